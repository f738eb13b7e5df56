"""URLs of kasatka.api."""

from django.urls import URLPattern, path  # noqa: F401

app_name = "apikeys"

urlpatterns: list[URLPattern] = []
