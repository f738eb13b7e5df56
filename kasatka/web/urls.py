"""URLs of the web UI and of the public pages (unsubscribe)."""

from django.urls import path

from . import contacts, views, visits

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("calls/", views.calls, name="calls"),
    path("calls/<int:pk>/close/", views.close_call_view, name="close_call"),
    path("touches/", views.touches, name="touches"),
    path("contacts/", contacts.contact_list, name="contacts"),
    path("contacts/duplicates/", visits.duplicates, name="contact_duplicates"),
    path("contacts/<int:pk>/", views.contact_card, name="contact"),
    path("contacts/<int:pk>/qualification/", visits.qualification, name="qualification"),
    path("notices/<int:pk>/dismiss/", views.dismiss_notice, name="dismiss_notice"),
    path("visits/", visits.visit_list, name="visits"),
    path("visits/new/", visits.new_visit, name="new_visit"),
]
