"""Ship the default email templates as editable rows (existing edits are kept)."""

from django.db import migrations

DEFAULTS = [
    {
        "key": "invoice_reminder",
        "description": "Reminder for an overdue invoice",
        "subject": "Reminder: invoice {{ invoice_number }} is overdue",
        "text_body": (
            "Hello,\n\n"
            "Our records show that invoice {{ invoice_number }} for {{ amount }}, "
            "due on {{ due_date }}, has not been paid yet.\n\n"
            "If you have already paid, please ignore this message. Otherwise we would be "
            "grateful for your payment at your earliest convenience.\n\n"
            "Thank you."
        ),
        "html_body": (
            "<p>Hello,</p>"
            "<p>Our records show that invoice <strong>{{ invoice_number }}</strong> for "
            "{{ amount }}, due on {{ due_date }}, has not been paid yet.</p>"
            "<p>If you have already paid, please ignore this message. Otherwise we would be "
            "grateful for your payment at your earliest convenience.</p><p>Thank you.</p>"
        ),
        "variables": ["invoice_number", "amount", "due_date"],
    },
]


def create_defaults(apps, schema_editor):
    EmailTemplate = apps.get_model("actions", "EmailTemplate")
    for template in DEFAULTS:
        EmailTemplate.objects.get_or_create(key=template["key"], defaults=template)


class Migration(migrations.Migration):
    dependencies = [("actions", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
