"""URLs of kasatka.imports (under /imports/)."""

from django.urls import URLPattern, path

from . import views

app_name = "imports"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.job, name="job"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/rejected.csv", views.rejected_csv, name="rejected"),
]
