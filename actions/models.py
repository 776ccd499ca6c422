"""Stored configuration of actions: editable email templates."""

from django.db import models


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
