"""Project status update: a status change emails every stakeholder and posts to Slack (a local
server standing in for the Slack Web API)."""

import pytest

from actions.models import Connection
from crm.models import Contact, Project
from workflows.models import Execution

TOKEN = "xoxb-42-projects-bot-token"
POSTED = {"ok": True, "channel": "C0PROJECTS", "ts": "1763890200.000100", "message": {}}


@pytest.fixture
def slack(settings, httpserver):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]
    settings.SLACK_API_BASE = httpserver.url_for("/api/")
    connection = Connection(name="slack", provider="slack")
    connection.secrets = {"bot_token": TOKEN}
    connection.save()
    httpserver.expect_request("/api/chat.postMessage", method="POST").respond_with_json(POSTED)
    return httpserver


def slack_posts(httpserver):
    return [
        (request.path, request.headers["Authorization"], request.get_json())
        for request, _ in httpserver.log
    ]


def test_a_status_change_reaches_every_stakeholder_and_the_channel(
    demo, activate, committed, slack, mailoutbox, runs
):
    workflow = activate("project_status_update")
    project = (
        Project.objects.filter(status="active", stakeholders__isnull=False)
        .select_related("customer")
        .order_by("pk")
        .first()
    )
    stakeholders = list(project.stakeholders.exclude(email="").order_by("pk"))
    assert stakeholders
    front_desk = Contact.objects.create(customer=project.customer, name="Front desk", email="")
    project.stakeholders.add(front_desk)  # no address: skipped

    with committed():
        project.status = Project.Status.ON_HOLD
        project.save()

    (run,) = runs(workflow)
    assert run.status == Execution.Status.COMPLETED, run.error
    subject = f"{project.name}: status changed to on_hold"
    assert sorted((m.to[0], m.subject) for m in mailoutbox) == sorted(
        (person.email, subject) for person in stakeholders
    )
    for person in stakeholders:
        (message,) = [m for m in mailoutbox if m.to == [person.email]]
        assert f"Hello {person.name}," in message.body
        assert (
            f"The status of the project {project.name} for {project.customer.name} has changed "
            "from active to on_hold."
        ) in message.body
    assert run.steps.get(node_id="each_stakeholder").output == {"count": len(stakeholders) + 1}
    assert slack_posts(slack) == [
        (
            "/api/chat.postMessage",
            f"Bearer {TOKEN}",
            {
                "channel": "#projects",
                "text": (
                    f"Project *{project.name}* for {project.customer.name} changed status: "
                    "active → *on_hold*. Stakeholders were notified by email."
                ),
            },
        )
    ]
    assert run.steps.get(node_id="post_to_slack").output == {
        "ts": POSTED["ts"],
        "channel": "C0PROJECTS",
        "via": "api",
    }


def test_other_changes_and_projects_without_stakeholders(
    demo, activate, committed, slack, mailoutbox, runs
):
    workflow = activate("project_status_update")
    project = Project.objects.filter(stakeholders__isnull=False).order_by("pk").first()
    with committed():
        project.name = f"{project.name} (phase 2)"  # not a status change
        project.save()
    assert runs(workflow) == []

    lonely = Project.objects.create(name="Internal audit", customer=project.customer)
    with committed():
        lonely.status = Project.Status.ACTIVE
        lonely.save()

    (run,) = runs(workflow)
    assert run.status == Execution.Status.COMPLETED, run.error
    assert mailoutbox == []
    ((_, _, posted),) = slack_posts(slack)
    assert posted["text"].startswith(f"Project *Internal audit* for {project.customer.name}")
    assert "planned → *active*" in posted["text"]
