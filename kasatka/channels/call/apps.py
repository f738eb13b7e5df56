from django.apps import AppConfig


class CallConfig(AppConfig):
    name = "kasatka.channels.call"
    label = "calls"
