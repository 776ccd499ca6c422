"""Payment thank-you: recording a payment emails the invoice's customer a thank-you."""

from decimal import Decimal

from django.utils import timezone

from crm.models import Customer, Invoice, Payment
from workflows.models import Execution


def test_a_recorded_payment_thanks_the_invoice_customer(demo, activate, committed, mailoutbox):
    workflow = activate("payment_thank_you")
    invoice = (
        Invoice.objects.filter(status="overdue").exclude(customer__email="").order_by("number")
    ).first()
    customer = invoice.customer

    with committed():
        payment = Payment.objects.create(
            invoice=invoice, amount=invoice.amount, method=Payment.Method.BANK_TRANSFER
        )
        invoice.status, invoice.paid_at = Invoice.Status.PAID, timezone.now()
        invoice.save()

    (run,) = Execution.objects.filter(workflow=workflow)
    assert run.status == Execution.Status.COMPLETED, run.error
    assert run.subject == f"payment:{payment.pk}"
    (message,) = mailoutbox
    assert message.to == [customer.email]
    assert message.subject == f"Thank you for your payment for invoice {invoice.number}"
    assert f"Hello {customer.name}," in message.body
    assert (
        f"We received your payment of {invoice.amount} {invoice.currency} for invoice "
        f"{invoice.number} on November 23, 2026."
    ) in message.body
    html = message.alternatives[0][0]
    assert f"<strong>{invoice.amount} {invoice.currency}</strong>" in html


def test_a_partial_payment_thanks_for_the_amount_paid(demo, activate, committed, mailoutbox):
    activate("payment_thank_you")
    invoice = Invoice.objects.filter(status="sent").order_by("-amount").first()
    part = (invoice.amount / 2).quantize(Decimal("0.01"))

    with committed():
        Payment.objects.create(invoice=invoice, amount=part)

    (message,) = mailoutbox
    assert message.to == [invoice.customer.email]
    assert f"payment of {part} {invoice.currency}" in message.body


def test_a_customer_without_an_address_gets_nothing_and_the_run_says_why(
    demo, activate, committed, mailoutbox
):
    workflow = activate("payment_thank_you")
    walk_in = Customer.objects.create(name="Walk-in customer", email="")
    invoice = Invoice.objects.create(
        number="INV-CASH-1",
        customer=walk_in,
        amount=Decimal("80.00"),
        due_date=timezone.localdate(),
        status="sent",
    )

    with committed():
        Payment.objects.create(invoice=invoice, amount=invoice.amount, method="cash")

    assert mailoutbox == []
    (run,) = Execution.objects.filter(workflow=workflow)
    assert run.status == Execution.Status.COMPLETED, run.error
    assert run.steps.get(node_id="no_address").output == {
        "status": "completed",
        "reason": "the customer has no email address",
    }
