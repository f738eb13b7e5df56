"""URLs of the chain editor, mounted at /chains/."""

from django.urls import path

from . import views

app_name = "chains"

urlpatterns = [
    path("", views.chain_list, name="list"),
    path("new/", views.chain_new, name="new"),
    path("lint/", views.lint, name="lint"),
    path("preview/", views.preview, name="preview"),
    path("contacts/", views.contact_options, name="contacts"),
    path("<int:pk>/", views.chain_edit, name="edit"),
    path("<int:pk>/active/", views.chain_active, name="active"),
]
