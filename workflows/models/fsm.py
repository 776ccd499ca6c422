"""refresh_from_db() for models whose django-fsm state field is protected.

django-fsm-2's FSMModelMixin makes refresh possible by switching `protected` off and on
again on the field, which is shared by every instance of the class: under threads (ASGI
request threads, the embedded worker's pool) another thread's transition can meet the field
unprotected, or find it protected again mid-refresh and fail. The descriptor only refuses
an assignment when the instance already holds a state, so dropping the instance's own
state before the refresh lets it reload without touching the shared field.
"""

from django_fsm import FSMFieldMixin


class ProtectedStateMixin:
    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        for field in self._meta.concrete_fields:
            reloaded = fields is None or field.attname in fields or field.name in fields
            if isinstance(field, FSMFieldMixin) and field.protected and reloaded:
                self.__dict__.pop(field.attname, None)
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
