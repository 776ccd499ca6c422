"""Data the scenarios need, made fast: business records and workflows.

Records are bulk-created (no signals: setting the stage must not fire events). A workflow the
scenario runs is made the product's way (`save_definition`, `change_status`), so it is
validated and its trigger installed; the thousands of bystander workflows of the events and
api scenarios are bulk-created rows with the same columns activation would write.
"""

import datetime
from decimal import Decimal

from django.contrib.auth.models import Permission, User
from django.utils import timezone

BATCH = 2000


def customers(count):
    from crm.models import Customer

    made = Customer.objects.bulk_create(
        [
            Customer(name=f"Customer {i}", email=f"c{i}@example.com", type="smb")
            for i in range(count)
        ],
        batch_size=BATCH,
    )
    if made and made[0].pk is None:  # a backend that does not return ids
        made = list(Customer.objects.order_by("pk"))
    return made


def invoices(count, owners, *, overdue_days=0, prefix="INV", status="sent"):
    """`count` invoices spread over `owners`; with `overdue_days`, due that long ago."""
    from crm.models import Invoice

    today = timezone.localdate()
    due = today - datetime.timedelta(days=overdue_days) if overdue_days else today
    rows = (
        Invoice(
            number=f"{prefix}-{i:07d}",
            customer=owners[i % len(owners)],
            amount=Decimal(100 + (i * 37) % 1900),
            due_date=due,
            status=status,
            reminder_count=i % 5,
        )
        for i in range(count)
    )
    created = 0
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            created += len(Invoice.objects.bulk_create(batch))
            batch = []
    if batch:
        created += len(Invoice.objects.bulk_create(batch))
    return created


def workflow(definition, *, status="active"):
    """A workflow made the product's way: validated, versioned, its trigger installed."""
    from workflows.models import Workflow

    workflow = Workflow(name=definition["name"])
    workflow.save()
    workflow.save_definition(definition)
    if status != "draft":
        workflow.change_status(status)
    return workflow


def bystander_workflows(count, triggers, *, status="active", name="bench: bystander"):
    """`count` workflows with the rows activation writes (status, trigger columns, a version),
    bulk-created. `triggers(i)` gives the i-th workflow's trigger (a definition's `trigger`).
    Returns the number made."""
    from workflows.models import Workflow, WorkflowVersion
    from workflows.models.workflow import definition_checksum

    made = 0
    for start in range(0, count, BATCH):
        indexes = range(start, min(start + BATCH, count))
        bodies = [
            {
                "name": f"{name} {i}",
                "trigger": triggers(i),
                "nodes": [{"id": "done", "type": "end"}],
                "edges": [{"from": "trigger", "to": "done"}],
            }
            for i in indexes
        ]
        rows = Workflow.objects.bulk_create(
            [
                Workflow(
                    name=body["name"],
                    status=status,
                    trigger_type=body["trigger"]["type"],
                    trigger_event=body["trigger"].get("event", ""),
                )
                for body in bodies
            ]
        )
        versions = WorkflowVersion.objects.bulk_create(
            [
                WorkflowVersion(
                    workflow=row, number=1, definition=body, checksum=definition_checksum(body)
                )
                for row, body in zip(rows, bodies, strict=True)
            ]
        )
        for row, version in zip(rows, versions, strict=True):
            row.current_version = version
        Workflow.objects.bulk_update(rows, ["current_version"])
        made += len(rows)
    return made


def staff_user(username="bench"):
    """A staff user who may view and run workflows (for the live log and the API)."""
    user = User.objects.create_user(username, is_staff=True)  # no password: no login
    codenames = ["view_workflow", "view_execution", "execute_workflow"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def session_cookie(user):
    """A session cookie for `user`, as a login would make it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
