"""Every admin page, opened with planted secrets in the database.

Two crawls over everything registered with the admin site: a staff user holding only view
permissions must get every list and page (the admin works without superuser rights), and
no page, whoever opens it, may contain a stored secret, in clear or encrypted.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection as db_connection
from django.test import Client
from django.urls import reverse

from actions.models import Connection, Notification, PushSubscription
from tests.admin.support import end_definition, url
from tests.support.definitions import chain, definition, probe
from triggers.models import Event, WebhookEndpoint
from triggers.webhooks import rotate_secret
from workflows.models import Workflow
from workflows.services import start_execution

CONNECTION_SECRET = "sk_live_PLANTED_c0ffee5ecret"
PUSH_AUTH = "PUSHAUTH_PLANTED_b1e55ed"


@pytest.fixture
def planted(make_workflow, probe_actions):
    """One of everything the product's admin shows, and the secrets that must not show."""
    owner = User.objects.create_user("owner")
    stripe = Connection(name="Stripe", provider="stripe")
    stripe.secrets = {"api_key": CONNECTION_SECRET}
    stripe.save()
    hooked = make_workflow(
        definition([probe("a")], chain("a"), name="Hooked", trigger={"type": "webhook"}),
        status="active",
    )
    webhook_secret = rotate_secret(hooked)
    make_workflow(
        end_definition("Daily", trigger={"type": "schedule", "config": {"daily": {"at": "09:00"}}}),
        status="active",
    )
    start_execution(hooked, trigger_data={"invoice": 1}, inline=True)
    Event.objects.create(name="invoice.created", record_type="invoice", record_id="1", payload={})
    Notification.objects.create(recipient=owner, title="Hello")
    PushSubscription.objects.create(
        user=owner, endpoint="https://push.example.com/x", p256dh="key", auth=PUSH_AUTH
    )
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT secret_data FROM actions_connection")
        stored = [row[0] for row in cursor.fetchall()]
    secret_bytes = webhook_secret.removeprefix("whsec_")
    return [CONNECTION_SECRET, webhook_secret, secret_bytes, PUSH_AUTH, *stored]


def admin_pages(user):
    """Every list, add page, object page, history and delete page the user may open, and
    the workflow pages of our own."""
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        name = f"admin:{opts.app_label}_{opts.model_name}"
        fake = type("Request", (), {"user": user})()
        if not model_admin.has_view_or_change_permission(fake):
            continue
        yield reverse(f"{name}_changelist")
        if model_admin.has_add_permission(fake):
            yield reverse(f"{name}_add")
        for obj in model._default_manager.all()[:3]:
            yield reverse(f"{name}_change", args=[obj.pk])
            yield reverse(f"{name}_history", args=[obj.pk])
            if model_admin.has_delete_permission(fake, obj):
                yield reverse(f"{name}_delete", args=[obj.pk])
    for workflow in Workflow.objects.all():
        for view in ("run", "versions", "export"):
            yield url(Workflow, view, workflow.pk)


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_no_page_shows_a_stored_secret(planted):
    superuser = User.objects.create_superuser("root", password="unused")
    client = signed_in(superuser)
    pages = list(admin_pages(superuser))
    assert url(Connection, "change", Connection.objects.get().pk) in pages
    assert url(WebhookEndpoint, "change", WebhookEndpoint.objects.get().pk) in pages

    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        for secret in planted:
            assert secret not in body, f"{page} shows a stored secret"


@pytest.mark.django_db
def test_a_staff_user_with_view_permissions_only_opens_every_page(planted):
    viewer = User.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(codename__startswith="view_")
        | Permission.objects.filter(codename="execute_workflow")
    )
    client = signed_in(viewer)
    pages = list(admin_pages(viewer))
    assert len(pages) > 40

    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert 'name="_save"' not in response.content.decode(), page
