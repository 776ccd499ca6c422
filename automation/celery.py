"""The Celery app. The broker only carries wake-ups: the database is the source of truth."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automation.settings")

# Settings Celery reads on every message it sends. With the configuration in Django's
# settings under a namespace, each read of a setting left at its default looks through
# four spellings in two mappings before the default (~12 us each, 5 per message: a third
# of a publish, which the outbox pays per batch of events). Copied into the app's own
# layer once, a read is a dict lookup. Not task_always_eager: tests switch it with
# override_settings, which must keep working.
PER_MESSAGE_SETTINGS = (
    "task_repr_maxlevels",
    "task_default_queue",
    "task_send_sent_event",
    "broker_pool_acquire_timeout",
)


def _settle_per_message_settings(sender, source, **kwargs):
    source.update({key: source[key] for key in PER_MESSAGE_SETTINGS})


app = Celery("automation")
app.on_after_configure.connect(_settle_per_message_settings, weak=False)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
