"""URLs of the figures of the method, mounted at /insights/."""

from django.urls import path

from . import views

app_name = "insights"

urlpatterns = [
    path("lapsing/", views.lapsing, name="lapsing"),
]
