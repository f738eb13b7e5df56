from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "kasatka.engine"
    label = "engine"
