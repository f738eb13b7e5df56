"""Viber bots through the REST Bot API: messages, keyboards, callbacks, deep links."""
