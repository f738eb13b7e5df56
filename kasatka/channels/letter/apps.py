from django.apps import AppConfig


class LetterConfig(AppConfig):
    name = "kasatka.channels.letter"
    label = "letters"
