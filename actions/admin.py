"""Admin pages of the actions app: email templates, connections, notifications, push
subscriptions.

Connections hold credentials, and the admin is write-only for them: each secret is a
password input that is never pre-filled, a blank input keeps what is stored, and the page
says which secrets are set, never what they are. The stored values are only decrypted to
merge in what was typed, on the server.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from workflows.variables import ExpressionError, parse

from .models import Connection, EmailTemplate, Notification, PushSubscription

INPUT_PREFIX = "secret__"


# -- email templates ----------------------------------------------------------------------


class EmailTemplateForm(forms.ModelForm):
    """Refuses a template whose `{{ }}` expressions the renderer could not parse, so a
    broken template is found when it is saved, not when a workflow sends it."""

    class Meta:
        model = EmailTemplate
        fields = ["key", "description", "subject", "text_body", "html_body", "variables"]

    def clean(self):
        cleaned = super().clean()
        for name in ("subject", "text_body", "html_body"):
            try:
                parse(cleaned.get(name) or "")
            except ExpressionError as exc:
                self.add_error(name, str(exc))
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    form = EmailTemplateForm
    list_display = ["key", "subject", "description", "updated_at"]
    search_fields = ["key", "subject", "description"]


# -- connections --------------------------------------------------------------------------


class ConnectionForm(forms.ModelForm):
    """A connection with one password input per secret field (see `for_connection`).

    Typed values replace stored ones, blank inputs keep them, ticked names are removed.
    """

    secret_names = ()

    class Meta:
        model = Connection
        fields = ["name", "provider", "config"]

    @classmethod
    def for_connection(cls, connection):
        """The form class for one connection: its provider's secret fields plus any secret
        already stored under another name; on the add page, every provider's fields."""
        if connection is None:
            names = sorted({name for names in Connection.SECRET_FIELDS.values() for name in names})
            stored = []
        else:
            stored = sorted(connection.secrets)
            names = sorted({*Connection.SECRET_FIELDS.get(connection.provider, ()), *stored})
        attrs = {"secret_names": tuple(names)}
        for name in names:
            attrs[INPUT_PREFIX + name] = forms.CharField(
                label=name,
                required=False,
                strip=False,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                help_text="set — leave blank to keep it"
                if name in stored
                else "not set"
                + (f" (used by {_providers_using(name)})" if connection is None else ""),
            )
        if stored:
            attrs["remove_secrets"] = forms.MultipleChoiceField(
                choices=[(name, name) for name in stored],
                required=False,
                widget=forms.CheckboxSelectMultiple,
                help_text="Ticked secrets are deleted when you save.",
            )
        return type("ConnectionSecretsForm", (cls,), attrs)

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider")
        allowed = set(Connection.SECRET_FIELDS.get(provider, ())) | set(self.instance.secrets)
        for name in self.secret_names:
            if cleaned.get(INPUT_PREFIX + name) and name not in allowed:
                self.add_error(INPUT_PREFIX + name, f"{provider} connections have no {name}.")
        return cleaned

    def save(self, commit=True):
        secrets = self.instance.secrets
        for name in self.cleaned_data.get("remove_secrets") or ():
            secrets.pop(name, None)
        for name in self.secret_names:
            value = self.cleaned_data.get(INPUT_PREFIX + name)
            if value:
                secrets[name] = value
        self.instance.secrets = secrets
        return super().save(commit)


def _providers_using(name):
    return ", ".join(
        Connection.Provider(provider).label
        for provider, names in Connection.SECRET_FIELDS.items()
        if name in names
    )


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "secrets_set", "last_used_at", "last_error", "created_by"]
    list_filter = ["provider"]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    readonly_fields = [
        "secrets_set",
        "created_by",
        "created_at",
        "updated_at",
        "last_used_at",
        "last_error",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ConnectionForm.for_connection(obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        secret_fields = []
        if obj is None or self.has_change_permission(request, obj):
            form = ConnectionForm.for_connection(obj)
            secret_fields = [INPUT_PREFIX + name for name in form.secret_names]
            if "remove_secrets" in form.base_fields:
                secret_fields.append("remove_secrets")
        fieldsets = [
            (None, {"fields": ["name", "provider", "config"]}),
            (
                "Secrets (write-only)",
                {
                    "fields": ["secrets_set", *secret_fields],
                    "description": "Stored encrypted and never shown again. Fill in only "
                    "what you want to set or replace.",
                },
            ),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    "Use",
                    {
                        "fields": [
                            "created_by",
                            "created_at",
                            "updated_at",
                            "last_used_at",
                            "last_error",
                        ]
                    },
                )
            )
        return fieldsets

    @admin.display(description="Secrets set")
    def secrets_set(self, connection):
        # The names only: whether a secret is there is useful, what it is never is.
        return ", ".join(sorted(connection.secrets)) or "—"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# -- notifications and push subscriptions ----------------------------------------------------


class ReadFilter(admin.SimpleListFilter):
    title = "read"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("no", "Unread"), ("yes", "Read")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "recipient", "level", "created_at", "read_at"]
    list_filter = [ReadFilter, "level", "created_at"]
    search_fields = ["title", "body", "recipient__username", "recipient__email"]
    list_select_related = ["recipient"]
    raw_id_fields = ["recipient", "execution"]
    date_hierarchy = "created_at"
    actions = ["mark_read", "mark_unread"]

    @admin.action(description="Mark selected notifications as read", permissions=["change"])
    def mark_read(self, request, queryset):
        count = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        messages.success(request, f"{count} notification(s) marked as read.")

    @admin.action(description="Mark selected notifications as unread", permissions=["change"])
    def mark_unread(self, request, queryset):
        count = queryset.filter(read_at__isnull=False).update(read_at=None)
        messages.success(request, f"{count} notification(s) marked as unread.")


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    """Browsers subscribe themselves; here they can be seen and removed, not edited. The
    keys are the browser's encryption material and are not shown."""

    list_display = ["user", "short_endpoint", "created_at", "last_used_at"]
    search_fields = ["user__username", "user__email", "endpoint"]
    list_select_related = ["user"]
    fields = ["user", "endpoint", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Endpoint")
    def short_endpoint(self, subscription):
        return str(subscription)
