"""Fixtures for the API tests: users holding exactly the permissions a test names, clients
that authenticate with a token (or a session), and workflows to act on."""

import itertools

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.support.definitions import chain, definition, probe

_names = itertools.count(1)


@pytest.fixture
def user_with(db):
    """user_with("workflows.view_workflow", ...) -> a user holding exactly those."""

    def make(*perms):
        # No password: hashing one costs most of a second; session tests use force_login.
        user = User.objects.create(username=f"user{next(_names)}")
        for perm in perms:
            app_label, codename = perm.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


@pytest.fixture
def client_for():
    """client_for(user) -> an APIClient that sends the user's token; None: anonymous."""

    def make(user=None):
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def admin_user(db):
    return User.objects.create(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def api(admin_user, client_for):
    """A client of a superuser: for tests about behaviour, not permissions."""
    return client_for(admin_user)


@pytest.fixture
def probe_definition(probe_actions):
    """definition(**extra) -> a valid manual workflow of two probe steps."""

    def make(**extra):
        return definition([probe("a"), probe("b")], chain("a", "b"), **extra)

    return make


@pytest.fixture
def workflow(make_workflow, probe_definition):
    return make_workflow(probe_definition(name="Probe workflow"))
