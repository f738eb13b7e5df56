from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "kasatka.contacts"
    label = "contacts"
