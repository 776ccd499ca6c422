"""The webhook endpoint lookup: one prepared statement, the ORM's values, never stale."""

import pytest
from django.db.models import Exists, OuterRef

from tests.support.definitions import chain, definition
from triggers import endpoint_lookup, webhooks
from triggers.models import WebhookEndpoint, WebhookSecret

pytestmark = pytest.mark.django_db

HOOK = definition([{"id": "done", "type": "end"}], chain("done"), trigger={"type": "webhook"})


@pytest.fixture
def endpoint(make_workflow):
    workflow = make_workflow(HOOK, status="active")
    return webhooks.endpoint_of(workflow)


def through_the_orm(token):
    return (
        WebhookEndpoint.objects.select_related("workflow", "workflow__current_version")
        .annotate(signs=Exists(WebhookSecret.objects.filter(endpoint=OuterRef("pk"))))
        .get(token=token)
    )


def fields(instance):
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.fields}


def test_it_reads_what_the_orm_reads(endpoint):
    found = endpoint_lookup.find_endpoint(endpoint.token)
    expected = through_the_orm(endpoint.token)
    assert fields(found) == fields(expected)
    assert fields(found.workflow) == fields(expected.workflow)  # datetimes, JSON, choices...
    assert found.workflow.current_version == expected.workflow.current_version
    assert found.workflow.current_version.definition == expected.workflow.current_version.definition
    assert found.signs is False
    assert not found._state.adding
    assert not found.workflow._state.adding


def test_an_unknown_token_finds_nothing(endpoint):
    assert endpoint_lookup.find_endpoint("no-such-token") is None


def test_every_lookup_reads_the_rows_again(endpoint):
    workflow = endpoint.workflow
    assert endpoint_lookup.find_endpoint(endpoint.token).workflow.status == "active"
    workflow.change_status("paused")
    assert endpoint_lookup.find_endpoint(endpoint.token).workflow.status == "paused"
    workflow.save_definition({**HOOK, "name": "Renamed"})
    found = endpoint_lookup.find_endpoint(endpoint.token).workflow
    assert found.current_version.number == 2
    assert found.current_version.definition["name"] == "Renamed"


def test_signs_follows_the_secrets(endpoint):
    webhooks.rotate_secret(endpoint.workflow)
    assert endpoint_lookup.find_endpoint(endpoint.token).signs is True
    WebhookSecret.objects.filter(endpoint=endpoint).delete()
    assert endpoint_lookup.find_endpoint(endpoint.token).signs is False


def test_a_version_is_read_once_then_one_statement_per_lookup(endpoint, django_assert_num_queries):
    endpoint_lookup.version.cache_clear()
    with django_assert_num_queries(2):  # the endpoint's row, then its version
        endpoint_lookup.find_endpoint(endpoint.token)
    with django_assert_num_queries(1):
        found = endpoint_lookup.find_endpoint(endpoint.token)
    assert found.workflow.current_version.pk == endpoint.workflow.current_version_id


def test_a_version_id_that_comes_back_with_other_content_is_not_served_from_memory(
    make_workflow,
):
    """SQLite hands an id out again after a rollback: the cache is keyed by content too."""
    from django.db import transaction

    with transaction.atomic():
        first = webhooks.endpoint_of(make_workflow(HOOK, status="active"))
        assert endpoint_lookup.find_endpoint(first.token).workflow.current_version.number == 1
        reused = first.workflow.current_version_id
        transaction.set_rollback(True)
    other = make_workflow({**HOOK, "name": "Other content"}, status="active")
    endpoint = webhooks.endpoint_of(other)
    found = endpoint_lookup.find_endpoint(endpoint.token).workflow.current_version
    assert found.definition["name"] == "Other content"
    assert found.pk == other.current_version_id
    if found.pk == reused:  # SQLite: the same id, served fresh all the same
        assert found.workflow_id == other.pk
