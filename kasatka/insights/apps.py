from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "kasatka.insights"
    label = "insights"
