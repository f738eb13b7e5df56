"""URLs of kasatka.capture."""

from django.urls import URLPattern, path  # noqa: F401

app_name = "capture"

urlpatterns: list[URLPattern] = []
