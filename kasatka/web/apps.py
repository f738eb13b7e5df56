from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kasatka.web"
    label = "web"
