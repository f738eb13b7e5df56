from django.apps import AppConfig


class ChainsConfig(AppConfig):
    name = "kasatka.chains"
    label = "chains"
