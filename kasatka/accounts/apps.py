from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kasatka.accounts"
    label = "accounts"
