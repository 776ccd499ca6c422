"""Who may do what through the API: Django's model permissions, reading included.

DRF's DjangoModelPermissions lets any authenticated user read; here GET, HEAD and OPTIONS
need `view_<model>` as well, like the admin. Actions that are not plain create / read /
update / delete name their permissions in the view's `action_permissions` (running a
workflow needs `workflows.execute_workflow`; see views.py). Anonymous requests are
answered 401 (TokenAuthentication comes first, so the answer carries WWW-Authenticate),
authenticated ones without the permission 403.
"""

from rest_framework.permissions import DjangoModelPermissions

VIEW = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": VIEW,
        "HEAD": VIEW,
        "OPTIONS": VIEW,
    }

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        named = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if named is not None:
            return user.has_perms(named)
        if not hasattr(view, "get_queryset"):
            # A view of no model answers OPTIONS, or 405 for a method it lacks: nothing to
            # guard beyond being signed in.
            return True
        return super().has_permission(request, view)
