"""Lead qualification: each new lead is scored from rules, routed hot / warm / cold and assigned."""

import re

import pytest
from django.core.management import call_command

from crm.models import Lead
from workflows.models import Execution

FREE_MAIL = re.compile(
    r"@(gmail|googlemail|yahoo|ymail|hotmail|outlook|live|msn|icloud|me|aol|gmx|web|mail|proton"
    r"|protonmail|yandex|zoho)\.",
    re.IGNORECASE,
)


def expected(lead):
    """The template's rules, restated: (score, status, assigned_to)."""
    score = {
        "referral": 40,
        "partner": 40,
        "webinar": 25,
        "trade_show": 25,
        "website": 15,
        "linkedin": 15,
    }.get(lead.source, 5)
    if lead.company:
        score += 20
    if lead.email and not FREE_MAIL.search(lead.email):
        score += 20
    if score >= 65:
        return score, "qualified", "sales_team"
    if score >= 40:
        return score, "nurture", "sdr_team"
    return score, "nurture", "marketing_team"


LEADS = [
    # (name, email, company, source): one per rule combination worth telling apart
    ("Ines Silva", "ines@cobalt-robotics.example", "Cobalt Robotics", "referral"),  # 80 hot
    ("Omar Haddad", "omar@beacon.example", "Beacon Labs", "trade_show"),  # 65 hot, the edge
    ("Grace Kim", "grace.kim@gmail.com", "Kim Dental", "partner"),  # 60 warm
    ("Tomas Novak", "tomas@novak-media.example", "", "webinar"),  # 45 warm
    ("Zoe Clarke", "zoe@zenith.example", "Zenith Foods", "cold_outreach"),  # 45 warm
    ("Ravi Iyer", "ravi@Outlook.com", "", "website"),  # 15 cold
    ("Leila Nasser", "", "", "linkedin"),  # 15 cold
    ("Anonymous", "visitor@mail.com", "", ""),  # 5 cold
]


def test_each_new_lead_is_scored_routed_and_assigned(demo, activate, committed, runs):
    workflow = activate("lead_qualification")
    demo_leads = {
        lead.pk: (lead.score, lead.status, lead.assigned_to) for lead in Lead.objects.all()
    }

    with committed():
        created = [
            Lead.objects.create(name=name, email=email, company=company, source=source)
            for name, email, company, source in LEADS
        ]

    outcomes = {}
    for lead in created:
        lead.refresh_from_db()
        outcomes[lead.name] = (lead.score, lead.status, lead.assigned_to)
        assert outcomes[lead.name] == expected(lead), lead.name
    assert {status for _, status, _ in outcomes.values()} == {"qualified", "nurture"}
    assert {team for _, _, team in outcomes.values()} == {
        "sales_team",
        "sdr_team",
        "marketing_team",
    }
    assert outcomes["Omar Haddad"] == (65, "qualified", "sales_team")
    assert outcomes["Anonymous"] == (5, "nurture", "marketing_team")
    assert {r.status for r in runs(workflow)} == {Execution.Status.COMPLETED}
    assert len(runs(workflow)) == len(LEADS)
    # The leads that were there before are left as they were.
    assert {
        lead.pk: (lead.score, lead.status, lead.assigned_to)
        for lead in Lead.objects.filter(pk__in=demo_leads)
    } == demo_leads


@pytest.mark.parametrize("rule", ["hot", "warm", "cold"])
def test_the_run_shows_the_route_it_took(clock, activate, committed, runs, rule):
    lead = {"hot": LEADS[0], "warm": LEADS[3], "cold": LEADS[5]}[rule]
    workflow = activate("lead_qualification")
    with committed():
        Lead.objects.create(name=lead[0], email=lead[1], company=lead[2], source=lead[3])
    (run,) = runs(workflow)
    assert run.steps.get(node_id="route").output == {"case": rule if rule != "cold" else "default"}
    assigned = [s.node_id for s in run.steps.filter(node_id__startswith="assign_")]
    assert assigned == [f"assign_{rule}"]


@pytest.mark.slow
def test_the_demo_leads_are_qualified_as_they_arrive(clock, activate, committed):
    activate("lead_qualification")
    with committed():
        call_command("seed_demo", "--quiet")
    leads = list(Lead.objects.all())
    assert leads
    for lead in leads:
        assert (lead.score, lead.status, lead.assigned_to) == expected(lead), lead.email
