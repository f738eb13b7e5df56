"""Replies fetched from an IMAP mailbox: the `imap` provider of the e-mail channel.

Each poll reads the folder's unseen messages, applies each as a reply (or skips it as
an auto-reply or bounce), then marks it \\Seen (and moves it, if the account says where).
A message is applied before it is marked: a poll cut short repeats it next time, and
InboundMessage's unique provider id (the Message-ID) makes the repeat a "duplicate".
"""

from __future__ import annotations

import base64
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import InterfaceError, OperationalError

from kasatka.channels.email.replies import InboundEmailChannel, take_reply
from kasatka.channels.inbound import apply_events
from kasatka.channels.models import ProviderAccount

log = logging.getLogger("kasatka.channels")

DEFAULT_TIMEOUT = 20.0  # seconds; the worker waits for it between its rounds
# Messages applied per account and poll; the rest wait for the next poll.
BATCH = 200
# After a failed poll the worker's trigger waits before trying that account again.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)


class ImapEmailChannel(InboundEmailChannel):
    """Sends as the e-mail channel does; replies are fetched from an IMAP mailbox.

    Options: host, port (993, or 143 without ssl), ssl (default true), starttls,
    username, folder (INBOX), move_to (a folder for processed mail), cafile, timeout.
    Secrets: password. Raw MIME on the webhook is taken as well.
    """

    provider = "imap"


@dataclass
class Fetched:
    """What one poll of one mailbox came to."""

    account_id: int
    read: int = 0  # unseen messages read
    applied: int = 0  # recorded as replies (or as from an unknown sender)
    duplicates: int = 0  # already recorded (a repeated poll)
    ignored: int = 0  # auto-replies, bounces, receipts
    error: str = ""


def fetch_replies(account: ProviderAccount) -> Fetched:
    """Poll the account's mailbox once; a server that fails is reported, never raised."""
    fetched = Fetched(account.pk)
    options: dict[str, Any] = dict(account.options)
    if not options.get("host"):
        fetched.error = "the account has no IMAP host (option host)"
        return fetched
    try:
        password = account.secrets.get("password", "")
    except ValueError as exc:  # the secrets were sealed with another key
        fetched.error = str(exc)
        log.warning("IMAP poll of account %s: %s", account.pk, exc)
        return fetched
    try:
        with _connect(options) as imap:
            imap.login(str(options.get("username", "")), password)
            _fetch_folder(imap, account, options, fetched)
    except (OSError, imaplib.IMAP4.error, UnicodeError) as exc:
        # ssl.SSLError and timeouts are OSErrors: the server is down, refuses us or
        # misbehaves. Logged, and tried again on the next poll.
        fetched.error = f"{type(exc).__name__}: {exc}"
        log.warning("IMAP poll of account %s (%s) failed: %s",
                    account.pk, options.get("host"), fetched.error)
    return fetched


def _connect(options: dict[str, Any]) -> imaplib.IMAP4:
    host = str(options["host"])
    use_ssl = bool(options.get("ssl", True))
    port = int(options.get("port") or (993 if use_ssl else 143))
    timeout = float(options.get("timeout") or DEFAULT_TIMEOUT)
    context = ssl.create_default_context(cafile=options.get("cafile") or None)
    if use_ssl:
        return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
    imap = imaplib.IMAP4(host, port, timeout=timeout)
    if options.get("starttls"):
        imap.starttls(ssl_context=context)
    return imap


def _fetch_folder(
    imap: imaplib.IMAP4, account: ProviderAccount, options: dict[str, Any], fetched: Fetched
) -> None:
    _ok(imap.select(mailbox_name(str(options.get("folder") or "INBOX"))), "SELECT")
    data = _ok(imap.uid("SEARCH", "UNSEEN"), "SEARCH")
    uids = (data[0] or b"").decode("ascii").split() if data else []
    move_to = str(options.get("move_to") or "")
    capabilities = _capabilities(imap)
    for uid in uids[:BATCH]:
        raw = _message(imap, uid)
        if raw is None:
            continue  # expunged by another client meanwhile
        fetched.read += 1
        try:
            _apply(account, raw, fetched)
        except (OperationalError, InterfaceError):
            raise  # the database is gone: left unseen, the worker reconnects
        except Exception:
            # A bug on one message must not hold back the others behind it; it stays
            # unseen and is tried again on the next poll.
            log.exception("e-mail %s of account %s could not be applied", uid, account.pk)
            continue
        _ok(imap.uid("STORE", uid, "+FLAGS", r"(\Seen)"), "STORE")
        if move_to:
            _move(imap, uid, move_to, capabilities)


def _apply(account: ProviderAccount, raw: bytes, fetched: Fetched) -> None:
    event, _reason = take_reply(account, raw)
    if event is None:
        fetched.ignored += 1
        return
    [outcome] = apply_events(account, [event])
    if outcome == "duplicate":
        fetched.duplicates += 1
    else:
        fetched.applied += 1


def _message(imap: imaplib.IMAP4, uid: str) -> bytes | None:
    # BODY.PEEK: reading must not mark it \Seen before it is applied.
    for item in _ok(imap.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH"):
        if isinstance(item, tuple) and len(item) == 2:
            return bytes(item[1])
    return None


def _move(imap: imaplib.IMAP4, uid: str, folder: str, capabilities: set[str]) -> None:
    target = mailbox_name(folder)
    if "MOVE" in capabilities:  # RFC 6851
        _ok(imap.uid("MOVE", uid, target), "MOVE")
        return
    _ok(imap.uid("COPY", uid, target), "COPY")
    _ok(imap.uid("STORE", uid, "+FLAGS", r"(\Deleted)"), "STORE")
    if "UIDPLUS" in capabilities:  # expunge this one only, not what others deleted
        _ok(imap.uid("EXPUNGE", uid), "EXPUNGE")
    else:
        _ok(imap.expunge(), "EXPUNGE")


def _capabilities(imap: imaplib.IMAP4) -> set[str]:
    # Asked again after login: servers announce MOVE and UIDPLUS only then.
    data = _ok(imap.capability(), "CAPABILITY")
    return {c.upper() for c in (data[0] or b"").decode("ascii", "replace").split()}


def _ok(answer: tuple[str, list[Any]], command: str) -> list[Any]:
    status, data = answer
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(f"{command} failed: {status} {detail}")
    return data


def mailbox_name(name: str) -> str:
    """A folder name for IMAP commands: modified UTF-7 (RFC 3501 §5.1.3), quoted."""
    encoded = re.sub(r"[^\x20-\x7e]+", _utf7_run, name.replace("&", "&-"))
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _utf7_run(found: re.Match[str]) -> str:
    data = base64.b64encode(found.group(0).encode("utf-16-be")).decode("ascii")
    return "&" + data.rstrip("=").replace("/", ",") + "-"


# --- the worker's trigger ------------------------------------------------------------
_backoff: dict[int, tuple[int, datetime]] = {}  # account id → (failures, next try)


def imap_accounts(business_slug: str | None = None) -> list[ProviderAccount]:
    accounts = ProviderAccount.objects.filter(
        channel=ImapEmailChannel.code, provider=ImapEmailChannel.provider, is_active=True
    ).select_related("business").order_by("pk")
    if business_slug is not None:
        accounts = accounts.filter(business__slug=business_slug)
    return list(accounts)


def fetch_all_replies(now: datetime) -> int:
    """Poll every active IMAP account (the worker's trigger); returns the replies applied.

    A mailbox that fails waits before its next try, longer after each failure, so that
    a server that is down costs the worker a timeout now and then, not every round.
    """
    applied = 0
    for account in imap_accounts():
        failures, next_try = _backoff.get(account.pk, (0, now))
        if now < next_try:
            continue
        fetched = fetch_replies(account)
        applied += fetched.applied
        if fetched.error:
            wait = min(BACKOFF_FIRST * 2**failures, BACKOFF_MAX)
            _backoff[account.pk] = (failures + 1, now + wait)
        else:
            _backoff.pop(account.pk, None)
    return applied
