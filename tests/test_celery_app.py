"""The Celery app's configuration: the settings read for every message come from the
app's own layer, with the values Django's settings (or Celery's defaults) give them."""

from celery.app.defaults import DEFAULTS
from django.conf import settings

from automation import celery as celery_module
from automation.celery import app


def test_per_message_settings_are_read_from_the_apps_own_layer():
    app.conf["task_serializer"]  # the configuration is loaded on its first read
    assert app.configured
    own_layer = app.conf.maps[0]
    for key in celery_module.PER_MESSAGE_SETTINGS:
        assert key in own_layer, key
        configured = getattr(settings, f"CELERY_{key.upper()}", DEFAULTS[key])
        assert own_layer[key] == configured, key
        assert app.conf[key] == configured, key
