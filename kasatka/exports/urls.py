"""URLs of kasatka.exports."""

from django.urls import URLPattern, path  # noqa: F401

app_name = "exports"

urlpatterns: list[URLPattern] = []
