"""URLs of the web UI and of the public pages (unsubscribe)."""

from django.urls import path

from . import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("calls/", views.calls, name="calls"),
    path("calls/<int:pk>/close/", views.close_call_view, name="close_call"),
    path("touches/", views.touches, name="touches"),
    path("contacts/<int:pk>/", views.contact_card, name="contact"),
]
