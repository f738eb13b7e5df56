"""URLs of the figures of the method, mounted at /insights/."""

from django.urls import path

from . import views

app_name = "insights"

urlpatterns = [
    path("", views.index, name="index"),
    path("lapsing/", views.lapsing, name="lapsing"),
    path("plotly-<str:version>.min.js", views.plotly_js, name="plotly"),
    path("<slug:slug>/", views.page, name="page"),
]
