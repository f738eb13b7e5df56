"""Contacts, their addresses per channel and their consent history."""
