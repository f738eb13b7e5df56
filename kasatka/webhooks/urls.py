"""URLs of kasatka.webhooks."""

from django.urls import URLPattern, path  # noqa: F401

app_name = "webhooks"

urlpatterns: list[URLPattern] = []
