"""Webhook URLs: `/hooks/<token>`, with or without a trailing slash (senders differ, and a
redirect would turn their POST into a GET)."""

from django.urls import path

from . import views

app_name = "triggers"

urlpatterns = [
    path("<str:token>", views.receive_webhook, name="webhook"),
    path("<str:token>/", views.receive_webhook),
]
