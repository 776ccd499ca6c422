"""Fixtures for the admin tests: staff users holding only the permissions a page needs.

Every admin test signs in as such a limited user, never as a superuser, so a page or an
action that asks for more than its documented permission fails here.
"""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.admin.support import end_definition


def permission(dotted):
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def staff(db):
    """staff("workflows.view_workflow", ...) -> a Client signed in as a staff user that
    holds exactly those permissions (its user is `client.user`)."""
    made = []

    def make(*perms, username=None):
        user = User.objects.create_user(
            username=username or f"staff{len(made) + 1}", password="unused", is_staff=True
        )
        user.user_permissions.set([permission(dotted) for dotted in perms])
        client = Client()
        client.force_login(user)
        client.user = user
        made.append(user)
        return client

    return make


@pytest.fixture
def workflow(make_workflow):
    return make_workflow(end_definition())
