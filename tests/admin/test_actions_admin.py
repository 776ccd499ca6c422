"""Email templates, connections (secrets write-only), notifications and push subscriptions."""

import pytest
from django.contrib.auth.models import User
from django.db import connection as db_connection
from django.utils import timezone

from actions.models import Connection, EmailTemplate, Notification, PushSubscription
from tests.admin.support import messages_of, offered_actions, post_action, url

PLANTED = "sk_live_PLANTED_7f3a9c1e"


# -- email templates ------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_email_template_is_edited_in_the_admin(staff):
    client = staff("actions.view_emailtemplate", "actions.add_emailtemplate")
    assert client.get(url(EmailTemplate, "changelist")).status_code == 200
    assert client.get(url(EmailTemplate, "add")).status_code == 200

    client.post(
        url(EmailTemplate, "add"),
        {
            "key": "payment_thanks",
            "subject": "Thank you, {{ customer.name }}",
            "text_body": "We received {{ payment.amount }}.",
            "html_body": "",
            "variables": '["customer", "payment"]',
        },
    )

    template = EmailTemplate.objects.get(key="payment_thanks")
    assert template.variables == ["customer", "payment"]


@pytest.mark.django_db
def test_a_template_the_renderer_cannot_parse_is_refused(staff):
    client = staff("actions.view_emailtemplate", "actions.add_emailtemplate")

    response = client.post(
        url(EmailTemplate, "add"),
        {
            "key": "broken",
            "subject": "Hello {{ customer.name",
            "text_body": "Body",
            "variables": "[]",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["subject"]
    assert not EmailTemplate.objects.filter(key="broken").exists()


# -- connections ------------------------------------------------------------------------------


CONNECTION_PERMS = (
    "actions.view_connection",
    "actions.add_connection",
    "actions.change_connection",
)


@pytest.fixture
def stripe(db):
    connection = Connection(name="Stripe live", provider="stripe", config={"account": "acct_1"})
    connection.secrets = {"api_key": PLANTED}
    connection.save()
    return connection


def stored_ciphertext(connection):
    """The column as the database holds it (the field decrypts when Django reads it)."""
    table = Connection._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(f"SELECT secret_data FROM {table} WHERE id = %s", [connection.pk])  # noqa: S608
        return cursor.fetchone()[0]


def form_data(connection, **changes):
    return {
        "name": connection.name,
        "provider": connection.provider,
        "config": '{"account": "acct_1"}',
        **changes,
    }


@pytest.mark.django_db
def test_a_new_connection_stores_the_typed_secrets_encrypted(staff):
    client = staff(*CONNECTION_PERMS)
    add_page = client.get(url(Connection, "add")).content.decode()
    assert 'type="password" name="secret__auth_token"' in add_page

    client.post(
        url(Connection, "add"),
        {
            "name": "Twilio",
            "provider": "twilio",
            "config": '{"account_sid": "AC123"}',
            "secret__auth_token": PLANTED,
        },
    )

    connection = Connection.objects.get(name="Twilio")
    assert connection.secrets == {"auth_token": PLANTED}
    assert PLANTED not in stored_ciphertext(connection)  # encrypted at rest
    assert connection.created_by == client.user


@pytest.mark.django_db
def test_a_secret_of_another_provider_is_refused(staff):
    response = staff(*CONNECTION_PERMS).post(
        url(Connection, "add"),
        {"name": "Twilio", "provider": "twilio", "config": "{}", "secret__api_key": PLANTED},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["secret__api_key"]
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_change_page_says_which_secrets_are_set_never_what_they_are(staff, stripe):
    response = staff(*CONNECTION_PERMS).get(url(Connection, "change", stripe.pk))

    html = response.content.decode()
    assert PLANTED not in html
    assert stored_ciphertext(stripe) not in html  # not even encrypted
    assert '<div class="readonly">api_key</div>' in html  # "Secrets set"
    assert 'type="password" name="secret__api_key"' in html
    assert 'name="secret__api_key" value=' not in html


@pytest.mark.django_db
def test_a_blank_secret_keeps_the_stored_one_and_a_typed_one_replaces_it(staff, stripe):
    client = staff(*CONNECTION_PERMS)
    change = url(Connection, "change", stripe.pk)

    client.post(change, form_data(stripe, name="Stripe (renamed)", secret__api_key=""))
    stripe.refresh_from_db()
    assert (stripe.name, stripe.secrets) == ("Stripe (renamed)", {"api_key": PLANTED})

    client.post(change, form_data(stripe, secret__api_key="sk_live_NEW"))
    stripe.refresh_from_db()
    assert stripe.secrets == {"api_key": "sk_live_NEW"}


@pytest.mark.django_db
def test_a_ticked_secret_is_removed(staff, stripe):
    staff(*CONNECTION_PERMS).post(
        url(Connection, "change", stripe.pk), form_data(stripe, remove_secrets=["api_key"])
    )

    stripe.refresh_from_db()
    assert stripe.secrets == {}


@pytest.mark.django_db
def test_a_viewer_cannot_change_a_connection(staff, stripe):
    client = staff("actions.view_connection")

    page = client.get(url(Connection, "change", stripe.pk)).content.decode()
    response = client.post(
        url(Connection, "change", stripe.pk), form_data(stripe, secret__api_key="x")
    )

    assert 'type="password"' not in page
    assert response.status_code == 403
    stripe.refresh_from_db()
    assert stripe.secrets == {"api_key": PLANTED}


# -- notifications ------------------------------------------------------------------------------


@pytest.fixture
def notifications(db):
    someone = User.objects.create_user("someone")
    unread = Notification.objects.create(recipient=someone, title="Invoice overdue")
    read = Notification.objects.create(
        recipient=someone, title="Payment received", read_at=timezone.now(), level="success"
    )
    return unread, read


@pytest.mark.django_db
def test_notifications_are_listed_and_filtered_by_read_and_level(staff, notifications):
    unread, read = notifications
    client = staff("actions.view_notification")

    def listed(**params):
        response = client.get(url(Notification, "changelist"), params)
        assert response.status_code == 200
        return {n.title for n in response.context["cl"].result_list}

    assert listed() == {unread.title, read.title}
    assert listed(read="no") == {unread.title}
    assert listed(read="yes") == {read.title}
    assert listed(level__exact="success") == {read.title}
    assert client.get(url(Notification, "change", unread.pk)).status_code == 200


@pytest.mark.django_db
def test_mark_read_and_unread(staff, notifications):
    unread, read = notifications
    client = staff("actions.view_notification", "actions.change_notification")

    response = post_action(client, Notification, "mark_read", [unread, read])
    assert "1 notification(s) marked as read." in messages_of(response)
    unread.refresh_from_db()
    assert unread.read_at is not None

    post_action(client, Notification, "mark_unread", [unread])
    unread.refresh_from_db()
    assert unread.read_at is None


@pytest.mark.django_db
def test_marking_needs_change_permission(staff, notifications):
    unread, _ = notifications
    client = staff("actions.view_notification")

    assert offered_actions(client, Notification) == set()
    post_action(client, Notification, "mark_read", [unread])
    unread.refresh_from_db()
    assert unread.read_at is None


# -- push subscriptions ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_push_subscriptions_are_seen_and_removed_but_not_edited(staff):
    user = User.objects.create_user("browser-owner")
    subscription = PushSubscription.objects.create(
        user=user,
        endpoint="https://push.example.com/send/abc",
        p256dh="BPUBLICKEY",
        auth="AUTHSECRET123",
    )
    client = staff(
        "actions.view_pushsubscription",
        "actions.change_pushsubscription",
        "actions.delete_pushsubscription",
    )

    listing = client.get(url(PushSubscription, "changelist")).content.decode()
    page = client.get(url(PushSubscription, "change", subscription.pk)).content.decode()

    assert "push.example.com" in listing
    assert "AUTHSECRET123" not in listing + page
    assert 'name="_save"' not in page
    assert client.get(url(PushSubscription, "add")).status_code == 403
    client.post(url(PushSubscription, "delete", subscription.pk), {"post": "yes"})
    assert not PushSubscription.objects.exists()
