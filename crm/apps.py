from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "Business records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Explicit registration (not import-order discovery): the records workflows may see.
        from . import records

        records.register_all()
