"""Telegram Update objects as the Bot API documents them, and posting them to our hook."""

from __future__ import annotations

import itertools
import json
from typing import Any

from django.test import Client

from kasatka.channels.binding import hook_key
from kasatka.channels.models import ProviderAccount
from kasatka.channels.telegram.bot import webhook_secret
from kasatka.channels.telegram.channel import SECRET_HEADER

TOKEN = "123456789:AAF-kedr_Bot_token_0123456789abcdefgh"
CHAT = "987654321"
BOT_USERNAME = "kedr_mebel_bot"
_ids = itertools.count(10_000)


def _user(chat: str, first: str = "Анна", last: str = "Иванова") -> dict[str, Any]:
    return {"id": int(chat), "is_bot": False, "first_name": first, "last_name": last,
            "username": "anna_iv", "language_code": "ru"}


def _private(chat: str) -> dict[str, Any]:
    return {"id": int(chat), "first_name": "Анна", "last_name": "Иванова",
            "username": "anna_iv", "type": "private"}


def message(
    text: str, chat: str = CHAT, message_id: int | None = None, reply_to: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": message_id or next(_ids), "from": _user(chat), "chat": _private(chat),
        "date": 1772434800, "text": text,
    }
    if text.startswith("/"):
        body["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    if reply_to is not None:
        body["reply_to_message"] = {
            "message_id": reply_to, "from": {"id": 123456789, "is_bot": True,
                                             "first_name": "Кедр", "username": BOT_USERNAME},
            "chat": _private(chat), "date": 1772434700, "text": "…",
        }
    return {"update_id": next(_ids), "message": body}


def callback(data: str, message_id: int, chat: str = CHAT) -> dict[str, Any]:
    return {"update_id": next(_ids), "callback_query": {
        "id": f"4382bfdwdsb323b2d9{next(_ids)}", "from": _user(chat), "chat_instance": "-1",
        "data": data,
        "message": {"message_id": message_id, "chat": _private(chat), "date": 1772434700,
                    "text": "…", "from": {"id": 123456789, "is_bot": True, "first_name": "Кедр"}},
    }}


def member(status: str, chat: str = CHAT) -> dict[str, Any]:
    old = "member" if status == "kicked" else "kicked"
    bot = {"id": 123456789, "is_bot": True, "first_name": "Кедр", "username": BOT_USERNAME}
    return {"update_id": next(_ids), "my_chat_member": {
        "chat": _private(chat), "from": _user(chat), "date": 1772434800,
        "old_chat_member": {"user": bot, "status": old},
        "new_chat_member": {"user": bot, "status": status, "until_date": 0},
    }}


def post(account: ProviderAccount, update: dict[str, Any], secret: str | None = None) -> Any:
    """POST the update to the account's hook as Telegram does, with the secret header."""
    headers = {}
    secret = webhook_secret(account) if secret is None else secret
    if secret:
        headers[f"HTTP_{SECRET_HEADER.upper().replace('-', '_')}"] = secret
    return Client().post(
        f"/hooks/{account.pk}/{hook_key(account.pk)}/", data=json.dumps(update),
        content_type="application/json", **headers,
    )


def sent_ok(message_id: int = 77, chat: str = CHAT, text: str = "…") -> dict[str, Any]:
    """sendMessage's answer: the Message that was sent."""
    return {"ok": True, "result": {
        "message_id": message_id,
        "from": {"id": 123456789, "is_bot": True, "first_name": "Кедр", "username": BOT_USERNAME},
        "chat": _private(chat), "date": 1772434800, "text": text,
    }}


def error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body
