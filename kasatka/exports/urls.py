"""URLs of kasatka.exports (mounted at /exports/)."""

from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.job, name="job"),
    path("<int:pk>/download/", views.download, name="download"),
]
