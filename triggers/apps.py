from django.apps import AppConfig


class TriggersConfig(AppConfig):
    name = "triggers"
    verbose_name = "Triggers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Explicit wiring, one line per trigger family (see each module's docstring).
        from . import schedules, signals, webhooks

        signals.connect()
        schedules.register()
        webhooks.register()
