"""Webhook URLs."""

urlpatterns = []
