"""Every API path, each with and without its trailing slash.

Both spellings are routed rather than redirected: a redirect would turn a client's POST
into a GET (Django's APPEND_SLASH refuses to redirect a POST at all).
"""

from django.urls import re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from actions.api import ConnectionViewSet

from . import views


class OptionalSlashRouter(SimpleRouter):
    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


app_name = "api"

router = OptionalSlashRouter()
router.register("workflows", views.WorkflowViewSet, basename="workflow")
router.register("executions", views.ExecutionViewSet, basename="execution")
router.register("templates", views.TemplateViewSet, basename="template")
router.register("catalog", views.CatalogViewSet, basename="catalog")
router.register("connections", ConnectionViewSet, basename="connection")

urlpatterns = [
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    *router.urls,
]
