"""URLs of kasatka.capture: the owner's forms, and the public endpoint the snippets post to."""

from django.urls import URLPattern, path

from . import views

app_name = "capture"

urlpatterns: list[URLPattern] = [
    path("", views.forms_list, name="forms"),
    path("f/<int:pk>/", views.form_detail, name="form"),
    # A form's token, or a business's slug (its default form). Last: it matches any word.
    path("<str:token>/", views.capture, name="submit"),
]
