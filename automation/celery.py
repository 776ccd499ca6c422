"""The Celery app. The broker only carries wake-ups: the database is the source of truth."""

import os

from celery import Celery
from django.core.signals import setting_changed

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "automation.settings")

# Settings Celery reads on every message it sends, and the one the outbox reads on every
# save (task_always_eager). With the configuration in Django's settings under a namespace,
# each read of a setting looks through four spellings in two mappings before it finds the
# value or the default (~12 us each, 5 per message, a third of a publish). Copied into the
# app's own layer once, a read is a dict lookup. override_settings of one of them copies
# it again (setting_changed), so tests that switch them keep working.
SETTLED = (
    "task_always_eager",
    "task_repr_maxlevels",
    "task_default_queue",
    "task_send_sent_event",
    "broker_pool_acquire_timeout",
)


def _settle(sender, source, **kwargs):
    source.update({key: source[key] for key in SETTLED})


def _settle_again(setting, **kwargs):
    key = setting.removeprefix("CELERY_").lower()
    if setting.startswith("CELERY_") and key in SETTLED and app.configured:
        own = app.conf.changes
        own.pop(key, None)  # read through to what Django's settings now say
        own[key] = app.conf[key]


app = Celery("automation")
app.on_after_configure.connect(_settle, weak=False)
setting_changed.connect(_settle_again, dispatch_uid="automation.celery.settle")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
