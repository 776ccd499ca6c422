"""The business records that workflows act on."""

from datetime import timedelta
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Customer(models.Model):
    class Type(models.TextChoices):
        ENTERPRISE = "enterprise"
        SMB = "smb"
        INDIVIDUAL = "individual"

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    type = models.CharField(max_length=20, choices=Type.choices, default=Type.SMB)
    stripe_customer_id = models.CharField(max_length=64, blank=True)
    stripe_payment_method_id = models.CharField(max_length=64, blank=True)
    quickbooks_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class InvoiceQuerySet(models.QuerySet):
    def days_overdue_filter(self, lookup, days, today=None):
        """Translate a comparison on days_overdue into one on due_date (index-friendly).

        days_overdue = max(0, today - due_date), so "days_overdue >= 7" is
        "due_date <= today - 7", and 0 stands for every invoice not yet past due.
        """
        today = today or timezone.localdate()
        days = int(days)
        # Normalise to "days_overdue >= n" / "days_overdue <= n" on whole days.
        if lookup == "gt":
            lookup, days = "gte", days + 1
        elif lookup == "lt":
            lookup, days = "lte", days - 1
        if lookup == "exact":
            return self.days_overdue_filter("gte", days, today) & self.days_overdue_filter(
                "lte", days, today
            )
        if lookup == "gte":
            if days <= 0:
                return Q()  # every invoice is at least 0 days overdue
            return Q(due_date__lte=today - timedelta(days=days))
        if days < 0:
            return Q(pk__in=[])  # no invoice is less than 0 days overdue
        return Q(due_date__gte=today - timedelta(days=days))

    def overdue_by(self, days):
        return self.filter(self.days_overdue_filter("gte", days))


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SENT = "sent"
        PAID = "paid"
        OVERDUE = "overdue"
        VOID = "void"

    number = models.CharField(max_length=32, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    amount = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    currency = models.CharField(max_length=3, default="USD")
    issue_date = models.DateField(default=timezone.localdate)
    due_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    reminder_count = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    quickbooks_id = models.CharField(max_length=64, blank=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["due_date", "number"]
        indexes = [
            # "overdue invoices by how late they are" is the product's first question.
            models.Index(fields=["status", "due_date"], name="invoice_status_due"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_not_negative"),
        ]

    def __str__(self):
        return self.number

    @property
    def days_overdue(self):
        """Whole days past the due date by the application's clock; 0 when not yet due."""
        return max(0, (timezone.localdate() - self.due_date).days)


class Payment(models.Model):
    class Method(models.TextChoices):
        CARD = "card"
        BANK_TRANSFER = "bank_transfer"
        CHECK = "check"
        CASH = "cash"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    received_at = models.DateTimeField(default=timezone.now)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.CARD)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.amount} for {self.invoice}"


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Project(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned"
        ACTIVE = "active"
        ON_HOLD = "on_hold"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    name = models.CharField(max_length=200)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="projects")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PLANNED)
    stakeholders = models.ManyToManyField(Contact, blank=True, related_name="projects")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Ticket(models.Model):
    class Priority(models.TextChoices):
        LOW = "low"
        NORMAL = "normal"
        HIGH = "high"
        URGENT = "urgent"

    class Status(models.TextChoices):
        OPEN = "open"
        PENDING = "pending"
        RESOLVED = "resolved"
        CLOSED = "closed"

    # Order of priorities, so "escalated" can mean "raised".
    PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}

    subject = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.CharField(max_length=100, blank=True, help_text="A team name")
    created_at = models.DateTimeField(default=timezone.now)
    first_response_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # SLA sweeps ask for open tickets without a response, oldest first.
            models.Index(fields=["status", "created_at"], name="ticket_status_created"),
        ]

    def __str__(self):
        return self.subject


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "new"
        QUALIFIED = "qualified"
        NURTURE = "nurture"
        DISQUALIFIED = "disqualified"
        CONVERTED = "converted"

    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    company = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=50, blank=True)
    score = models.IntegerField(default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assigned_to = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-score", "name"]

    def __str__(self):
        return self.name


class Contract(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        EXPIRED = "expired"
        RENEWED = "renewed"
        CANCELLED = "cancelled"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    start_date = models.DateField()
    end_date = models.DateField()
    value = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["end_date"]
        indexes = [
            # Renewal sweeps ask for active contracts ending soon.
            models.Index(fields=["status", "end_date"], name="contract_status_end"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")), name="contract_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"Contract {self.pk} ({self.customer})"
