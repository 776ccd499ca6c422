"""Admin pages for the business records: lists to browse, filter and search; nothing more."""

from django.contrib import admin

from .models import Contact, Contract, Customer, Invoice, Lead, Payment, Project, Ticket


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["name", "email", "phone"]


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    fields = ["amount", "method", "received_at"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "email", "phone", "created_at"]
    list_filter = ["type"]
    search_fields = ["name", "email", "phone", "stripe_customer_id", "quickbooks_id"]
    date_hierarchy = "created_at"
    inlines = [ContactInline]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "customer",
        "amount",
        "currency",
        "status",
        "due_date",
        "days_overdue",
        "reminder_count",
    ]
    list_filter = ["status", "currency", "due_date"]
    search_fields = ["number", "customer__name", "customer__email"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]
    date_hierarchy = "due_date"
    inlines = [PaymentInline]

    @admin.display(description="Days overdue")
    def days_overdue(self, invoice):
        return invoice.days_overdue


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["invoice", "amount", "method", "received_at"]
    list_filter = ["method", "received_at"]
    search_fields = ["invoice__number", "invoice__customer__name"]
    autocomplete_fields = ["invoice"]
    list_select_related = ["invoice"]
    date_hierarchy = "received_at"


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["name", "customer", "email", "phone"]
    search_fields = ["name", "email", "customer__name"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "customer", "status"]
    list_filter = ["status"]
    search_fields = ["name", "customer__name"]
    autocomplete_fields = ["customer", "stakeholders"]
    list_select_related = ["customer"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["subject", "customer", "priority", "status", "assigned_to", "created_at"]
    list_filter = ["priority", "status", "assigned_to"]
    search_fields = ["subject", "description", "customer__name"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "email", "source", "score", "status", "assigned_to"]
    list_filter = ["status", "source", "assigned_to"]
    search_fields = ["name", "email", "company"]


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customer", "start_date", "end_date", "value", "status"]
    list_filter = ["status", "end_date"]
    search_fields = ["customer__name"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]
    date_hierarchy = "end_date"
