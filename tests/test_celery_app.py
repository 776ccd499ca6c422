"""The Celery app's configuration: the settings read for every message (and every save)
come from the app's own layer, with the values Django's settings or Celery's defaults give
them, and override_settings still switches them."""

from celery.app.defaults import DEFAULTS
from django.conf import settings
from django.test import override_settings

from automation import celery as celery_module
from automation.celery import app


def _own_layer():
    app.conf["task_serializer"]  # the configuration is loaded on its first read
    assert app.configured
    return app.conf.maps[0]


def test_settled_settings_are_read_from_the_apps_own_layer():
    own_layer = _own_layer()
    for key in celery_module.SETTLED:
        if key == "task_always_eager":
            continue  # the tests' fixture switches it in that layer
        assert key in own_layer, key
        configured = getattr(settings, f"CELERY_{key.upper()}", DEFAULTS[key])
        assert own_layer[key] == configured, key
        assert app.conf[key] == configured, key


def test_override_settings_switches_a_settled_setting_and_puts_it_back():
    own_layer = _own_layer()
    configured = getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    for value in (True, False):
        with override_settings(CELERY_TASK_ALWAYS_EAGER=value):
            assert own_layer["task_always_eager"] is value
            assert app.conf.task_always_eager is value
        assert own_layer["task_always_eager"] is configured
    with override_settings(CELERY_TASK_DEFAULT_QUEUE="elsewhere"):
        assert app.conf.task_default_queue == "elsewhere"
    assert app.conf.task_default_queue == DEFAULTS["task_default_queue"]
