"""URLs of kasatka.webhooks: the owner's pages under /settings/webhooks/."""

from django.urls import URLPattern, path

from . import views

app_name = "webhooks"

urlpatterns: list[URLPattern] = [
    path("", views.subscriptions, name="list"),
    path("<int:pk>/", views.subscription, name="detail"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/test/", views.send_test, name="test"),
    path("<int:pk>/pause/", views.pause, name="pause"),
    path("<int:pk>/resume/", views.resume, name="resume"),
    path("<int:pk>/secret/", views.rotate_secret, name="rotate_secret"),
    path("deliveries/<int:pk>/", views.delivery, name="delivery"),
    path("deliveries/<int:pk>/resend/", views.resend, name="resend"),
]
