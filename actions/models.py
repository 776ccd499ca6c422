"""What actions keep: email templates, connections (credentials), notifications and
browser push subscriptions."""

import json

from django.conf import settings
from django.db import models

from automation.encryption import EncryptedTextField


class EmailTemplate(models.Model):
    """An email by key (`invoice_reminder`): subject and bodies with `{{ variables }}`.

    The product ships defaults (a data migration); teams edit the rows in the admin.
    """

    key = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300)
    text_body = models.TextField()
    html_body = models.TextField(blank=True)
    variables = models.JSONField(
        default=list, blank=True, help_text="Names of the variables the template expects"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.key


class Connection(models.Model):
    """Stored credentials for a provider (Twilio, Slack, Stripe, QuickBooks, HTTP auth...).

    `config` holds what is not secret (an account SID, a realm id, a base URL); the secret
    fields live encrypted in `secret_data` (JSON inside), are write-only in the admin and
    the API, and never reach step inputs, outputs, errors or logs.
    """

    class Provider(models.TextChoices):
        HTTP = "http", "HTTP (basic, bearer or header auth)"
        TWILIO = "twilio", "Twilio"
        SLACK = "slack", "Slack"
        STRIPE = "stripe", "Stripe"
        QUICKBOOKS = "quickbooks", "QuickBooks Online"
        ZAPIER = "zapier", "Zapier"
        WEBPUSH = "webpush", "Web Push (VAPID)"

    # The secret fields each provider's integration reads from `secrets`; what is not a
    # credential (an account SID, a realm id, a user name) goes in `config`, which is shown.
    SECRET_FIELDS = {
        Provider.HTTP: ("password", "token", "value"),
        Provider.TWILIO: ("auth_token", "api_key_secret"),
        Provider.SLACK: ("bot_token", "webhook_url"),
        Provider.STRIPE: ("api_key",),
        Provider.QUICKBOOKS: (
            "client_id",
            "client_secret",
            "access_token",
            "refresh_token",
            "expires_at",
        ),
        Provider.ZAPIER: ("hook_url",),
        Provider.WEBPUSH: ("private_key",),
    }

    name = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=20, choices=Provider.choices)
    config = models.JSONField(default=dict, blank=True)
    secret_data = EncryptedTextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} ({self.get_provider_display()})"

    @property
    def secrets(self) -> dict:
        return json.loads(self.secret_data) if self.secret_data else {}

    @secrets.setter
    def secrets(self, value: dict):
        self.secret_data = json.dumps(value or {})


class Notification(models.Model):
    """An in-app notification for one user; unread until read_at is set."""

    class Level(models.TextChoices):
        INFO = "info"
        SUCCESS = "success"
        WARNING = "warning"
        ERROR = "error"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    data = models.JSONField(default=dict, blank=True)
    execution = models.ForeignKey(
        "workflows.Execution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # A user's unread notifications, newest first: the bell icon's question.
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notification_inbox"),
        ]

    def __str__(self):
        return self.title


class PushSubscription(models.Model):
    """A browser's Web Push subscription (endpoint and keys) for one user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.endpoint[:60]
