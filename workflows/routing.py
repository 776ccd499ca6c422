"""Websocket URLs."""

from django.urls import path

from actions.consumers import NotificationConsumer

from .consumers import ExecutionLogConsumer, WorkflowLogConsumer

websocket_urlpatterns = [
    path("ws/executions/<str:public_id>/", ExecutionLogConsumer.as_asgi()),
    path("ws/workflows/<str:public_id>/", WorkflowLogConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
]
