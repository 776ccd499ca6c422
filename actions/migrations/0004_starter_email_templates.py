"""The email templates the starter workflows send (workflows/starters): editable rows, created
once; a template someone has already edited (or created under the same key) is kept as it is."""

from django.db import migrations

STARTER_TEMPLATES = [
    # -- welcome email sequence ---------------------------------------------------------------
    {
        "key": "welcome_day_0",
        "description": "Welcome sequence, day 0: the welcome on the day a customer joins",
        "subject": "Welcome aboard, {{ customer_name }}!",
        "text_body": (
            "Hello {{ customer_name }},\n\n"
            "Welcome! We are glad to have you with us.\n\n"
            "Over the next week we will send you two short emails to help you get set up and "
            "to make sure everything works the way you need it to. In the meantime, if you "
            "have a question, simply reply to this email: a real person reads every reply.\n\n"
            "Welcome again,\n"
            "Your customer success team"
        ),
        "html_body": (
            "<p>Hello {{ customer_name }},</p>"
            "<p>Welcome! We are glad to have you with us.</p>"
            "<p>Over the next week we will send you two short emails to help you get set up "
            "and to make sure everything works the way you need it to. In the meantime, if "
            "you have a question, simply reply to this email: a real person reads every "
            "reply.</p>"
            "<p>Welcome again,<br>Your customer success team</p>"
        ),
        "variables": ["customer_name"],
    },
    {
        "key": "welcome_day_3",
        "description": "Welcome sequence, day 3: getting-started tips",
        "subject": "{{ customer_name }}, three tips for your first week",
        "text_body": (
            "Hello {{ customer_name }},\n\n"
            "You have been with us for a few days now, so here are three things our most "
            "successful customers do in their first week:\n\n"
            "1. Check that your billing contact and address are correct, so invoices reach "
            "the right person.\n"
            "2. Add your colleagues, so that nobody waits on a single inbox.\n"
            "3. Tell us what you want to achieve: we will point you to the features that "
            "get you there fastest.\n\n"
            "Just reply to this email if you would like a hand with any of it.\n\n"
            "Best regards,\n"
            "Your customer success team"
        ),
        "html_body": (
            "<p>Hello {{ customer_name }},</p>"
            "<p>You have been with us for a few days now, so here are three things our most "
            "successful customers do in their first week:</p>"
            "<ol>"
            "<li>Check that your billing contact and address are correct, so invoices reach "
            "the right person.</li>"
            "<li>Add your colleagues, so that nobody waits on a single inbox.</li>"
            "<li>Tell us what you want to achieve: we will point you to the features that "
            "get you there fastest.</li>"
            "</ol>"
            "<p>Just reply to this email if you would like a hand with any of it.</p>"
            "<p>Best regards,<br>Your customer success team</p>"
        ),
        "variables": ["customer_name"],
    },
    {
        "key": "welcome_day_7",
        "description": "Welcome sequence, day 7: the one-week check-in",
        "subject": "How is your first week going, {{ customer_name }}?",
        "text_body": (
            "Hello {{ customer_name }},\n\n"
            "It has been a week since you joined us, and we would love to hear how it is "
            "going. Is there anything that is not working the way you expected, or anything "
            "you would like us to set up with you?\n\n"
            "Reply to this email and tell us in a sentence or two; we read every answer and "
            "get back to you within one business day.\n\n"
            "Thank you for choosing us,\n"
            "Your customer success team"
        ),
        "html_body": (
            "<p>Hello {{ customer_name }},</p>"
            "<p>It has been a week since you joined us, and we would love to hear how it is "
            "going. Is there anything that is not working the way you expected, or anything "
            "you would like us to set up with you?</p>"
            "<p>Reply to this email and tell us in a sentence or two; we read every answer "
            "and get back to you within one business day.</p>"
            "<p>Thank you for choosing us,<br>Your customer success team</p>"
        ),
        "variables": ["customer_name"],
    },
    # -- payment thank-you ------------------------------------------------------------------------
    {
        "key": "payment_thank_you",
        "description": "Thank-you for a payment received",
        "subject": "Thank you for your payment for invoice {{ invoice_number }}",
        "text_body": (
            "Hello {{ customer_name }},\n\n"
            "Thank you! We received your payment of {{ amount }} {{ currency }} for invoice "
            "{{ invoice_number }} on {{ payment_date }}.\n\n"
            "No further action is needed on your part. Keep this email as your receipt, and "
            "let us know if anything about the invoice looks wrong.\n\n"
            "Thank you for your business,\n"
            "Accounts receivable"
        ),
        "html_body": (
            "<p>Hello {{ customer_name }},</p>"
            "<p>Thank you! We received your payment of <strong>{{ amount }} {{ currency }}"
            "</strong> for invoice <strong>{{ invoice_number }}</strong> on "
            "{{ payment_date }}.</p>"
            "<p>No further action is needed on your part. Keep this email as your receipt, and "
            "let us know if anything about the invoice looks wrong.</p>"
            "<p>Thank you for your business,<br>Accounts receivable</p>"
        ),
        "variables": [
            "customer_name",
            "invoice_number",
            "amount",
            "currency",
            "payment_date",
            "payment_method",
        ],
    },
    # -- project status update --------------------------------------------------------------------
    {
        "key": "project_status_update",
        "description": "A project's status changed: the note to each stakeholder",
        "subject": "{{ project_name }}: status changed to {{ new_status }}",
        "text_body": (
            "Hello {{ stakeholder_name }},\n\n"
            "The status of the project {{ project_name }} for {{ customer_name }} has changed "
            "from {{ old_status }} to {{ new_status }}.\n\n"
            "You receive this update because you are a stakeholder of the project. If you "
            "have questions about what this means for you, reply to this email and the "
            "project team will get back to you.\n\n"
            "Kind regards,\n"
            "The project team"
        ),
        "html_body": (
            "<p>Hello {{ stakeholder_name }},</p>"
            "<p>The status of the project <strong>{{ project_name }}</strong> for "
            "{{ customer_name }} has changed from <strong>{{ old_status }}</strong> to "
            "<strong>{{ new_status }}</strong>.</p>"
            "<p>You receive this update because you are a stakeholder of the project. If you "
            "have questions about what this means for you, reply to this email and the "
            "project team will get back to you.</p>"
            "<p>Kind regards,<br>The project team</p>"
        ),
        "variables": [
            "stakeholder_name",
            "project_name",
            "customer_name",
            "old_status",
            "new_status",
        ],
    },
    # -- ticket escalation ------------------------------------------------------------------------
    {
        "key": "ticket_escalated",
        "description": "Ticket escalation: the note to the support team",
        "subject": "Escalated to {{ priority }}: {{ ticket_subject }}",
        "text_body": (
            "A ticket has had no first response for {{ hours_open }} hours, longer than the "
            "response-time target, and its priority was raised from {{ old_priority }} to "
            "{{ priority }}.\n\n"
            "Ticket: {{ ticket_subject }}\n"
            "Customer: {{ customer_name }}\n"
            "Team: {{ team }}\n"
            "Opened: {{ opened_at }}\n\n"
            "Please respond to the customer as soon as possible."
        ),
        "html_body": (
            "<p>A ticket has had no first response for <strong>{{ hours_open }} hours</strong>, "
            "longer than the response-time target, and its priority was raised from "
            "{{ old_priority }} to <strong>{{ priority }}</strong>.</p>"
            "<ul>"
            "<li>Ticket: {{ ticket_subject }}</li>"
            "<li>Customer: {{ customer_name }}</li>"
            "<li>Team: {{ team }}</li>"
            "<li>Opened: {{ opened_at }}</li>"
            "</ul>"
            "<p>Please respond to the customer as soon as possible.</p>"
        ),
        "variables": [
            "ticket_subject",
            "customer_name",
            "team",
            "hours_open",
            "old_priority",
            "priority",
            "opened_at",
        ],
    },
    # -- weekly report ----------------------------------------------------------------------------
    {
        "key": "weekly_report",
        "description": "The weekly business summary",
        "subject": "Weekly business summary, {{ report_date }}",
        "text_body": (
            "Good morning,\n\n"
            "Here is the business summary for the seven days before {{ report_date }}.\n\n"
            "Payments\n"
            "  Invoices paid: {{ paid_count }}\n"
            "  Amount collected: {{ paid_total }} {{ currency }}\n\n"
            "Overdue (as of this morning)\n"
            "  Overdue invoices: {{ overdue_count }}\n"
            "  Amount overdue: {{ overdue_total }} {{ currency }}\n\n"
            "Customers\n"
            "  New customers: {{ new_customers }}\n\n"
            "Amounts are in {{ currency }}; invoices in other currencies are not included.\n\n"
            "Have a good week!"
        ),
        "html_body": (
            "<p>Good morning,</p>"
            "<p>Here is the business summary for the seven days before {{ report_date }}.</p>"
            "<table>"
            '<tr><th colspan="2" align="left">Payments</th></tr>'
            '<tr><td>Invoices paid</td><td align="right">{{ paid_count }}</td></tr>'
            "<tr><td>Amount collected</td>"
            '<td align="right">{{ paid_total }} {{ currency }}</td></tr>'
            '<tr><th colspan="2" align="left">Overdue (as of this morning)</th></tr>'
            '<tr><td>Overdue invoices</td><td align="right">{{ overdue_count }}</td></tr>'
            "<tr><td>Amount overdue</td>"
            '<td align="right">{{ overdue_total }} {{ currency }}</td></tr>'
            '<tr><th colspan="2" align="left">Customers</th></tr>'
            '<tr><td>New customers</td><td align="right">{{ new_customers }}</td></tr>'
            "</table>"
            "<p>Amounts are in {{ currency }}; invoices in other currencies are not "
            "included.</p>"
            "<p>Have a good week!</p>"
        ),
        "variables": [
            "report_date",
            "paid_count",
            "paid_total",
            "overdue_count",
            "overdue_total",
            "new_customers",
            "currency",
        ],
    },
    # -- contract renewal -------------------------------------------------------------------------
    {
        "key": "contract_renewal",
        "description": "Contract renewal reminder, sent once as a contract's last 30 days begin",
        "subject": "Your contract ends on {{ end_date }}: time to talk about renewal",
        "text_body": (
            "Hello {{ customer_name }},\n\n"
            "Your contract #{{ contract_number }} with us ends on {{ end_date }}, "
            "{{ days_left }} days from now.\n\n"
            "We would like to make sure there is no interruption to your service. Reply to "
            "this email to renew, or to tell us what you would like to change for the next "
            "term, and your account manager will prepare the renewal for you.\n\n"
            "Thank you for working with us,\n"
            "Your account team"
        ),
        "html_body": (
            "<p>Hello {{ customer_name }},</p>"
            "<p>Your contract #{{ contract_number }} with us ends on <strong>{{ end_date }}"
            "</strong>, {{ days_left }} days from now.</p>"
            "<p>We would like to make sure there is no interruption to your service. Reply to "
            "this email to renew, or to tell us what you would like to change for the next "
            "term, and your account manager will prepare the renewal for you.</p>"
            "<p>Thank you for working with us,<br>Your account team</p>"
        ),
        "variables": [
            "customer_name",
            "contract_number",
            "end_date",
            "days_left",
            "contract_value",
        ],
    },
]


def create_starter_templates(apps, schema_editor):
    EmailTemplate = apps.get_model("actions", "EmailTemplate")
    for template in STARTER_TEMPLATES:
        EmailTemplate.objects.get_or_create(key=template["key"], defaults=template)


def remove_untouched_starter_templates(apps, schema_editor):
    """Going back removes the starter templates nobody has changed; edited ones stay."""
    EmailTemplate = apps.get_model("actions", "EmailTemplate")
    for template in STARTER_TEMPLATES:
        EmailTemplate.objects.filter(
            key=template["key"],
            subject=template["subject"],
            text_body=template["text_body"],
            html_body=template["html_body"],
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("actions", "0003_connection_pushsubscription_notification")]
    operations = [
        migrations.RunPython(create_starter_templates, remove_untouched_starter_templates)
    ]
