from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "kasatka.sales"
    label = "sales"
