from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "kasatka.channels"
    label = "channels"
