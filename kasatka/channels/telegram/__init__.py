"""Telegram through the Bot API: one bot per business, bound to contacts by deep links."""
