from django.apps import AppConfig


class TelegramConfig(AppConfig):
    """Installed only for its management command (`kasatka telegram_webhook`); no models."""

    name = "kasatka.channels.telegram"
    label = "telegram"
