"""seed_demo: a realistic demo data set for the business records, safe to run again.

    python manage.py seed_demo [--customers 40] [--invoices 400] [--seed 42] [--quiet]

The data is planned first (pure data from `random.Random(seed)` and the application's today,
`timezone.localdate()`), then written in one transaction. Every record has a stable natural
key (a customer's email, an invoice's number, a ticket's subject, the n-th payment of an
invoice...), and a stored row is saved only when its values differ from the plan: a second
run on the same day creates nothing, changes nothing and keeps every id. Run on a later day,
it moves the dates so that the data stays "around today" again. Another --seed or size is
another plan: stored rows whose keys it shares are updated to it, the rest is added beside
them, and nothing is ever deleted.

The invoices cover every status and the seed's reminder workflow finds work of both kinds:
invoices 7 or more days overdue with fewer than 3 reminders (an email each) and with 3 or
more (a ticket each), beside invoices overdue for less than a week (left alone).
"""

import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.utils import timezone
from tqdm import tqdm

from crm.models import Contact, Contract, Customer, Invoice, Lead, Payment, Project, Ticket

# --- vocabulary ----------------------------------------------------------------------------

COMPANY_WORDS = [
    "Acme", "Northwind", "Bluefin", "Cedar", "Summit", "Harbor", "Ironwood", "Lumen",
    "Meridian", "Pinecrest", "Redwood", "Silverline", "Granite", "Orchid", "Quantum", "Beacon",
    "Evergreen", "Falcon", "Juniper", "Keystone", "Maple", "Oakridge", "Sterling", "Tidewater",
    "Vantage", "Willow", "Zenith", "Aurora", "Cobalt", "Driftwood",
]  # fmt: skip
SECTORS = [
    "Logistics", "Analytics", "Foods", "Health", "Robotics", "Media", "Construction",
    "Consulting", "Energy", "Labs", "Outfitters", "Software", "Dental", "Architects",
]  # fmt: skip
LEGAL_FORMS = {
    Customer.Type.ENTERPRISE: ["Inc.", "Group", "Corporation", "Holdings"],
    Customer.Type.SMB: ["LLC", "Co.", "Ltd", "& Partners"],
}
FIRST_NAMES = [
    "Maria", "James", "Aisha", "Chen", "Sofia", "Lukas", "Priya", "Mateo", "Emma", "Noah",
    "Fatima", "Oliver", "Yuki", "Amara", "Liam", "Ines", "Kofi", "Hannah", "Diego", "Leila",
    "Tomas", "Zoe", "Ravi", "Elena", "Samuel", "Nadia", "Felix", "Grace", "Omar", "Clara",
]  # fmt: skip
LAST_NAMES = [
    "Garcia", "Smith", "Khan", "Wang", "Rossi", "Muller", "Patel", "Lopez", "Johnson", "Brown",
    "Haddad", "Taylor", "Tanaka", "Okafor", "Martin", "Silva", "Mensah", "Schmidt", "Moreno",
    "Nasser", "Novak", "Clarke", "Iyer", "Petrova", "Adeyemi", "Larsen", "Weber", "Kim",
]  # fmt: skip
PERSONAL_DOMAINS = ["mail.example", "inbox.example", "post.example"]
BILLING_MAILBOXES = ["billing", "accounts", "ap", "finance", "invoices"]

# (country, dialling code, currency, how to make the national part of a fictional number)
COUNTRIES = [
    ("US", "+1", "USD", lambda rng: rng.choice(["212", "415", "312", "617", "206", "512"])
     + f"55501{rng.randint(0, 99):02d}"),
    ("GB", "+44", "GBP", lambda rng: f"207946{rng.randint(0, 999):04d}"),
    ("DE", "+49", "EUR", lambda rng: f"30{rng.randint(10_000_000, 99_999_999)}"),
    ("CA", "+1", "CAD", lambda rng: rng.choice(["416", "604"]) + f"55501{rng.randint(0, 99):02d}"),
]  # fmt: skip
COUNTRY_WEIGHTS = [6, 2, 2, 1]

CUSTOMER_TYPE_WEIGHTS = {
    Customer.Type.ENTERPRISE: 2,
    Customer.Type.SMB: 5,
    Customer.Type.INDIVIDUAL: 3,
}
AMOUNT_CENTS = {
    Customer.Type.ENTERPRISE: (2_000_00, 60_000_00),
    Customer.Type.SMB: (300_00, 9_000_00),
    Customer.Type.INDIVIDUAL: (40_00, 1_500_00),
}
CONTACTS_PER_CUSTOMER = {
    Customer.Type.ENTERPRISE: (2, 4),
    Customer.Type.SMB: (1, 2),
    Customer.Type.INDIVIDUAL: (1, 1),
}
PROJECTS_PER_CUSTOMER = {
    Customer.Type.ENTERPRISE: (1, 3),
    Customer.Type.SMB: (0, 2),
    Customer.Type.INDIVIDUAL: (0, 1),
}
PROJECT_NAMES = [
    "Website relaunch", "ERP migration", "Data warehouse", "Mobile app", "Office fit-out",
    "Brand refresh", "Security audit", "Cloud migration", "Onboarding programme",
    "Analytics dashboard", "Customer portal", "Warehouse automation",
]  # fmt: skip
PAYMENT_TERMS_DAYS = [14, 30, 30, 30, 45, 60]

INVOICE_STATUS_WEIGHTS = {
    Invoice.Status.PAID: 38,
    Invoice.Status.SENT: 20,
    Invoice.Status.OVERDUE: 27,
    Invoice.Status.DRAFT: 8,
    Invoice.Status.VOID: 7,
}
# The seed's reminder workflow emails invoices >= 7 days overdue with < 3 reminders and opens
# a ticket for those with >= 3: these rows make sure both (and the "not yet" case) exist.
GUARANTEED_INVOICES = [
    (Invoice.Status.OVERDUE, 12, 1),
    (Invoice.Status.OVERDUE, 45, 3),
    (Invoice.Status.OVERDUE, 3, 0),
    (Invoice.Status.DRAFT, None, None),
    (Invoice.Status.SENT, None, None),
    (Invoice.Status.PAID, None, None),
    (Invoice.Status.VOID, None, None),
]
PAYMENT_METHODS = {
    Customer.Type.ENTERPRISE: [Payment.Method.BANK_TRANSFER] * 4 + [Payment.Method.CHECK],
    Customer.Type.SMB: [Payment.Method.CARD, Payment.Method.BANK_TRANSFER, Payment.Method.CHECK],
    Customer.Type.INDIVIDUAL: [Payment.Method.CARD] * 4 + [Payment.Method.CASH],
}

# (subject, team that handles it)
TICKET_TOPICS = [
    ("Cannot download the invoice PDF", "support_team"),
    ("Card payment declined at checkout", "collections_team"),
    ("Question about a late payment fee", "collections_team"),
    ("Request for a payment plan", "collections_team"),
    ("Wrong billing address on invoices", "billing_team"),
    ("Duplicate charge on last statement", "billing_team"),
    ("Password reset email never arrives", "support_team"),
    ("Export to CSV times out", "support_team"),
    ("API returns 500 on bulk update", "support_team"),
    ("Add three seats to our plan", "success_team"),
    ("Kick-off call for the new project", "onboarding_team"),
    ("Single sign-on setup help", "onboarding_team"),
]
LEAD_SOURCES = ["website", "referral", "webinar", "trade_show", "linkedin", "cold_outreach",
                "partner"]  # fmt: skip
CONTRACT_KINDS_GUARANTEED = ["ending_soon", "ending_soon", "ending_soon", "expired", "draft",
                             "cancelled"]  # fmt: skip
CONTRACT_KIND_WEIGHTS = {"active": 6, "ending_soon": 2, "expired": 1, "draft": 1, "cancelled": 1}


# --- the plan ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A reference to another planned row, by its model and natural key."""

    model: type[models.Model]
    key: tuple


@dataclass
class Row:
    """One record to write: its natural key, its field values and its many-to-many links."""

    key: tuple
    values: dict[str, Any]
    m2m: dict[str, list[Ref]] = field(default_factory=dict)


def _slug(text):
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


def _weighted(rng, weights):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _plan_list(rng, guaranteed, weights, total):
    """`total` choices: the guaranteed ones (as far as they fit), the rest by weight, shuffled."""
    plan = list(guaranteed[:total])
    plan += [_weighted(rng, weights) for _ in range(total - len(plan))]
    rng.shuffle(plan)
    return plan


class DemoPlan:
    """The whole data set as rows per model, in the order they must be written."""

    def __init__(self, *, seed, today, customers, invoices):
        self.rng = random.Random(seed)
        self.today = today
        self.n_customers = customers
        self.n_invoices = invoices
        pairs = [(word, sector) for word in COMPANY_WORDS for sector in SECTORS]
        self.rng.shuffle(pairs)
        self._companies = pairs
        self._company_cursor = 0
        people = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
        self.rng.shuffle(people)
        self._people = people
        self._person_cursor = 0

    # -- names ---------------------------------------------------------------------------

    def _next_company(self):
        """(display name stem, domain): unique, with a number once the word pairs run out."""
        index = self._company_cursor
        self._company_cursor += 1
        word, sector = self._companies[index % len(self._companies)]
        round_ = index // len(self._companies)
        stem = f"{word} {sector}" + (f" {round_ + 1}" if round_ else "")
        return stem, f"{_slug(stem)}.example"

    def _next_person(self):
        index = self._person_cursor
        self._person_cursor += 1
        first, last = self._people[index % len(self._people)]
        round_ = index // len(self._people)
        return first, last + (f"-{round_ + 1}" if round_ else "")

    def _phone(self, country):
        _, code, _, national = country
        return code + national(self.rng)

    def _at(self, day, hour=None, minute=None):
        hour = self.rng.randint(8, 17) if hour is None else hour
        minute = self.rng.randint(0, 59) if minute is None else minute
        return timezone.make_aware(datetime.combine(day, time(hour, minute)))

    def _days_ago(self, low, high):
        return self.today - timedelta(days=self.rng.randint(low, high))

    # -- records ---------------------------------------------------------------------------

    def build(self):
        """[(model, [Row, ...]), ...] parents before children."""
        self.customers = self._customers()
        return [
            (Customer, [row for row, _ in self.customers]),
            (Contact, self._contacts()),
            (Invoice, self._invoices()),
            (Payment, self._payments()),
            (Project, self._projects()),
            (Ticket, self._tickets()),
            (Lead, self._leads()),
            (Contract, self._contracts()),
        ]

    def _customers(self):
        types = _plan_list(self.rng, list(Customer.Type.values), CUSTOMER_TYPE_WEIGHTS,
                           self.n_customers)  # fmt: skip
        customers = []
        for index, type_ in enumerate(types):
            country = self.rng.choices(COUNTRIES, weights=COUNTRY_WEIGHTS)[0]
            if type_ == Customer.Type.INDIVIDUAL:
                first, last = self._next_person()
                name = f"{first} {last}"
                domain = self.rng.choice(PERSONAL_DOMAINS)
                email = f"{_slug(first)}.{_slug(last)}@{domain}"
            else:
                stem, domain = self._next_company()
                name = f"{stem} {self.rng.choice(LEGAL_FORMS[type_])}"
                email = f"{self.rng.choice(BILLING_MAILBOXES)}@{domain}"
            row = Row(
                key=(email,),
                values={
                    "name": name,
                    "email": email,
                    "phone": self._phone(country),
                    "type": type_,
                    "stripe_customer_id": f"cus_demo{index + 1:05d}",
                    "quickbooks_id": f"QB-{1000 + index}" if self.rng.random() < 0.6 else "",
                    "created_at": self._at(self._days_ago(90, 900)),
                },
            )
            customers.append((row, {"type": type_, "country": country, "domain": domain,
                                    "contacts": []}))  # fmt: skip
        return customers

    def _contacts(self):
        rows = []
        for customer, info in self.customers:
            low, high = CONTACTS_PER_CUSTOMER[info["type"]]
            for _ in range(self.rng.randint(low, high)):
                if info["type"] == Customer.Type.INDIVIDUAL:
                    name, email = customer.values["name"], customer.values["email"]
                else:
                    first, last = self._next_person()
                    name = f"{first} {last}"
                    email = f"{_slug(first)}.{_slug(last)}@{info['domain']}"
                row = Row(
                    key=(customer.key[0], email),
                    values={
                        "customer": Ref(Customer, customer.key),
                        "name": name,
                        "email": email,
                        "phone": self._phone(info["country"]),
                    },
                )
                info["contacts"].append(row)
                rows.append(row)
        return rows

    def _invoices(self):
        plan = _plan_list(
            self.rng,
            GUARANTEED_INVOICES,
            {(status, None, None): w for status, w in INVOICE_STATUS_WEIGHTS.items()},
            self.n_invoices,
        )
        self.paid_invoices = []
        rows = []
        for index, (status, days_late, reminders) in enumerate(plan, start=1):
            customer, info = self.rng.choice(self.customers)
            low, high = AMOUNT_CENTS[info["type"]]
            terms = timedelta(days=self.rng.choice(PAYMENT_TERMS_DAYS))
            values = {
                "customer": Ref(Customer, customer.key),
                "amount": Decimal(self.rng.randint(low, high)).scaleb(-2),
                "currency": info["country"][2],
                "status": status,
                "reminder_count": 0,
                "sent_at": None,
                "paid_at": None,
                "quickbooks_id": "",
            }
            if status == Invoice.Status.OVERDUE:
                days_late = days_late or self.rng.randint(1, 90)
                if reminders is None:
                    # Reminders start after a week and pile up with lateness (at most 5).
                    most = 0 if days_late < 7 else min(5, 1 + days_late // 12)
                    reminders = self.rng.randint(0, most)
                due = self.today - timedelta(days=days_late)
                values["reminder_count"] = reminders
            elif status == Invoice.Status.SENT:
                due = self.today + timedelta(days=self.rng.randint(0, terms.days - 1))
            elif status == Invoice.Status.PAID:
                due = self.today + timedelta(days=self.rng.randint(-120, 10))
            elif status == Invoice.Status.VOID:
                due = self.today + timedelta(days=self.rng.randint(-120, 20))
            else:  # draft: being written, not sent yet
                due = self.today - timedelta(days=self.rng.randint(0, 5)) + terms
            issue = min(due - terms, self.today - timedelta(days=1))
            if status == Invoice.Status.DRAFT:
                issue = due - terms
            values["issue_date"] = issue
            values["due_date"] = due
            if status != Invoice.Status.DRAFT:
                values["sent_at"] = self._at(issue)
            if status == Invoice.Status.PAID:
                latest = min((due - issue).days + 20, (self.today - issue).days - 1)
                paid_day = issue + timedelta(days=self.rng.randint(1, max(1, latest)))
                values["paid_at"] = self._at(paid_day)
                values["quickbooks_id"] = f"QB-INV-{index}"
            number = f"INV-{index:04d}"
            values["number"] = number
            row = Row(key=(number,), values=values)
            rows.append(row)
            if status == Invoice.Status.PAID:
                self.paid_invoices.append((row, info))
        return rows

    def _payments(self):
        rows = []
        for invoice, info in self.paid_invoices:
            rows.append(
                Row(
                    key=(invoice.key[0], 0),
                    values={
                        "invoice": Ref(Invoice, invoice.key),
                        "amount": invoice.values["amount"],
                        "received_at": invoice.values["paid_at"],
                        "method": self.rng.choice(PAYMENT_METHODS[info["type"]]),
                    },
                )
            )
        return rows

    def _projects(self):
        planned = []
        for customer, info in self.customers:
            low, high = PROJECTS_PER_CUSTOMER[info["type"]]
            for name in self.rng.sample(PROJECT_NAMES, self.rng.randint(low, high)):
                planned.append((customer, info, name))
        statuses = _plan_list(self.rng, list(Project.Status.values),
                              dict.fromkeys(Project.Status.values, 1), len(planned))  # fmt: skip
        rows = []
        for (customer, info, name), status in zip(planned, statuses, strict=True):
            contacts = info["contacts"]
            stakeholders = self.rng.sample(contacts, self.rng.randint(1, min(3, len(contacts))))
            rows.append(
                Row(
                    key=(customer.key[0], name),
                    values={"customer": Ref(Customer, customer.key), "name": name,
                            "status": status},
                    m2m={"stakeholders": [Ref(Contact, c.key) for c in stakeholders]},
                )
            )  # fmt: skip
        return rows

    def _tickets(self):
        combinations = [(p, s) for p in Ticket.Priority.values for s in Ticket.Status.values]
        count = max(len(combinations), self.n_customers * 3 // 2)
        kinds = combinations + [
            (self.rng.choice(Ticket.Priority.values), self.rng.choice(Ticket.Status.values))
            for _ in range(count - len(combinations))
        ]
        self.rng.shuffle(kinds)
        rows = []
        for index, (priority, status) in enumerate(kinds, start=1):
            topic, team = self.rng.choice(TICKET_TOPICS)
            customer = self.rng.choice(self.customers)[0] if self.rng.random() < 0.9 else None
            created = self._at(self._days_ago(2, 60))
            responded = None
            if status != Ticket.Status.OPEN or self.rng.random() < 0.3:
                responded = created + timedelta(minutes=self.rng.randint(10, 8 * 60))
            escalated = None
            urgent = priority in (Ticket.Priority.HIGH, Ticket.Priority.URGENT)
            if urgent and self.rng.random() < 0.5:
                escalated = created + timedelta(minutes=self.rng.randint(30, 6 * 60))
            subject = f"TCK-{index:04d}: {topic}"
            reporter = customer.values["name"] if customer else "a website visitor"
            rows.append(
                Row(
                    key=(subject,),
                    values={
                        "subject": subject,
                        "description": f"{topic}. Reported by {reporter}.",
                        "customer": Ref(Customer, customer.key) if customer else None,
                        "priority": priority,
                        "status": status,
                        "assigned_to": team,
                        "created_at": created,
                        "first_response_at": responded,
                        "escalated_at": escalated,
                    },
                )
            )
        return rows

    def _leads(self):
        rows = []
        for _ in range(self.n_customers * 2):
            first, last = self._next_person()
            stem, domain = self._next_company()
            score = self.rng.randint(0, 100)
            if score >= 80:
                status = self.rng.choice([Lead.Status.QUALIFIED, Lead.Status.CONVERTED])
            elif score >= 50:
                status = self.rng.choice([Lead.Status.QUALIFIED, Lead.Status.NURTURE])
            elif score >= 20:
                status = self.rng.choice([Lead.Status.NEW, Lead.Status.NURTURE])
            else:
                status = self.rng.choice([Lead.Status.NEW, Lead.Status.DISQUALIFIED])
            email = f"{_slug(first)}.{_slug(last)}@{domain}"
            team = "sales_team" if score >= 50 else "sdr_team"
            rows.append(
                Row(
                    key=(email,),
                    values={
                        "name": f"{first} {last}",
                        "email": email,
                        "company": stem,
                        "source": self.rng.choice(LEAD_SOURCES),
                        "score": score,
                        "status": status,
                        "assigned_to": "" if status == Lead.Status.NEW else team,
                    },
                )
            )
        return rows

    def _contracts(self):
        holders = [(c, i) for c, i in self.customers if i["type"] != Customer.Type.INDIVIDUAL]
        kinds = _plan_list(self.rng, CONTRACT_KINDS_GUARANTEED, CONTRACT_KIND_WEIGHTS,
                           len(holders))  # fmt: skip
        rows = []
        for (customer, info), kind in zip(holders, kinds, strict=True):
            low, high = AMOUNT_CENTS[info["type"]]
            value = Decimal(self.rng.randint(low * 4, high * 4)).scaleb(-2)
            length = timedelta(days=self.rng.choice([365, 730]))
            if kind == "ending_soon":
                end = self.today + timedelta(days=self.rng.randint(0, 30))
            elif kind == "expired":
                end = self._days_ago(1, 200)
            elif kind == "draft":
                end = self.today + timedelta(days=self.rng.randint(20, 90)) + length
            else:  # active or cancelled: ends well after the next month
                end = self.today + timedelta(days=self.rng.randint(45, 500))
            start = end - length
            status = {"ending_soon": "active", "draft": "draft"}.get(kind, kind)
            contracts = []
            if info["type"] == Customer.Type.ENTERPRISE and kind != "draft":
                # The term before this one, renewed into it.
                contracts.append((start - length, start - timedelta(days=1), value, "renewed"))
            contracts.append((start, end, value, status))
            for ordinal, (start_date, end_date, amount, state) in enumerate(contracts):
                rows.append(
                    Row(
                        key=(customer.key[0], ordinal),
                        values={"customer": Ref(Customer, customer.key), "start_date": start_date,
                                "end_date": end_date, "value": amount, "status": state},
                    )
                )  # fmt: skip
        return rows


# --- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NaturalKey:
    """How stored rows of a model are found again: by `lookup` (the key's first part) and
    `key(obj)`; with `ordinal`, rows sharing that first part are told apart by their order."""

    lookup: str
    key: Callable[[Any], tuple]
    related: tuple[str, ...] = ()
    ordinal: bool = False


NATURAL_KEYS = {
    Customer: NaturalKey("email", lambda o: (o.email,)),
    Contact: NaturalKey("customer__email", lambda o: (o.customer.email, o.email), ("customer",)),
    Invoice: NaturalKey("number", lambda o: (o.number,)),
    Payment: NaturalKey("invoice__number", lambda o: (o.invoice.number,), ("invoice",), True),
    Project: NaturalKey("customer__email", lambda o: (o.customer.email, o.name), ("customer",)),
    Ticket: NaturalKey("subject", lambda o: (o.subject,)),
    Lead: NaturalKey("email", lambda o: (o.email,)),
    Contract: NaturalKey("customer__email", lambda o: (o.customer.email,), ("customer",), True),
}
CHUNK = 500  # SQLite caps the number of query parameters


class Writer:
    """Creates missing rows, saves changed ones, leaves equal ones alone; counts each."""

    def __init__(self, progress):
        self.progress = progress
        self.saved: dict[tuple, models.Model] = {}
        self.tally: dict[type, Counter] = defaultdict(Counter)

    def _existing(self, model, rows):
        natural = NATURAL_KEYS[model]
        firsts = list(dict.fromkeys(row.key[0] for row in rows))
        found = {}
        seen = Counter()
        for start in range(0, len(firsts), CHUNK):
            chunk = firsts[start : start + CHUNK]
            qs = model._default_manager.filter(**{f"{natural.lookup}__in": chunk})
            for obj in qs.select_related(*natural.related).order_by("pk"):
                key = base = natural.key(obj)
                if natural.ordinal:
                    key = (*base, seen[base])
                    seen[base] += 1
                found.setdefault(key, obj)
        return found

    def _resolve(self, model, values):
        resolved = {}
        for name, value in values.items():
            model_field = model._meta.get_field(name)
            if model_field.is_relation:
                ref = value
                resolved[model_field.attname] = (
                    None if ref is None else self.saved[(ref.model, ref.key)].pk
                )
            else:
                resolved[name] = value
        return resolved

    def write(self, model, rows):
        self.progress.set_description(model._meta.verbose_name_plural)
        existing = self._existing(model, rows)
        for row in rows:
            values = self._resolve(model, row.values)
            obj = existing.get(row.key)
            if obj is None:
                obj = model._default_manager.create(**values)
                outcome = "created"
            else:
                changed = [name for name, value in values.items() if getattr(obj, name) != value]
                for name in changed:
                    setattr(obj, name, values[name])
                if changed:
                    obj.save(update_fields=changed)
                outcome = "updated" if changed else "unchanged"
            for name, refs in row.m2m.items():
                wanted = {self.saved[(ref.model, ref.key)].pk for ref in refs}
                manager = getattr(obj, name)
                if set(manager.values_list("pk", flat=True)) != wanted:
                    manager.set(sorted(wanted))
                    outcome = "created" if outcome == "created" else "updated"
            self.tally[model][outcome] += 1
            self.saved[(model, row.key)] = obj
            self.progress.update(1)

    def summary(self):
        totals = Counter()
        parts = []
        for model, counts in self.tally.items():
            totals.update(counts)
            parts.append(
                f"{model._meta.verbose_name_plural} {counts['created']}/{counts['updated']}"
            )
        return (
            f"{totals['created']} created, {totals['updated']} updated, "
            f"{totals['unchanged']} unchanged (created/updated: {', '.join(parts)})"
        )


# --- the command ---------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Create (or bring back) a realistic demo data set of customers, invoices and more."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=40, help="How many customers (40)")
        parser.add_argument("--invoices", type=int, default=400, help="How many invoices (400)")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (42)")
        parser.add_argument("--quiet", action="store_true", help="No progress display")

    def handle(self, *args, customers, invoices, seed, quiet, **options):
        if customers < 1:
            raise CommandError("--customers must be at least 1")
        if invoices < 0:
            raise CommandError("--invoices must not be negative")
        today = timezone.localdate()
        plan = DemoPlan(seed=seed, today=today, customers=customers, invoices=invoices).build()
        # The progress goes to the raw stream: Django's wrapper would end and colour each update.
        stream = getattr(self.stderr, "_out", sys.stderr)
        show = not quiet and hasattr(stream, "isatty") and stream.isatty()
        total = sum(len(rows) for _, rows in plan)
        with tqdm(total=total, unit="rec", file=stream, disable=not show, leave=False) as bar:
            writer = Writer(bar)
            with transaction.atomic():
                for model, rows in plan:
                    writer.write(model, rows)
        if options["verbosity"] > 0:
            self.stdout.write(
                self.style.SUCCESS(f"Demo data (seed {seed}, {today}): {writer.summary()}")
            )
