"""URLs of the chain editor, mounted at /chains/."""

from django.urls import path

from . import views

app_name = "chains"

urlpatterns = [
    path("", views.chain_list, name="list"),
]
