"""Reading a reply e-mail: who wrote, what they wrote (no quoted history), to which touch.

`parse_reply(raw)` turns one raw RFC 5322 message into an `InboundEvent`, or None for
mail that is no client's reply (auto-replies, bounces, read receipts); `why_not_a_reply`
says which. The reply text is the client's own words: quoted history ("> " lines,
"On … wrote:", «… пишет:», Outlook's "From: … Sent: …" block, "-----Original Message-----")
and the signature ("-- ") are cut off, as a seller reading the timeline would skip them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses
from html.parser import HTMLParser

from django.conf import settings

from kasatka.channels.base import InboundEvent
from kasatka.channels.email.channel import message_id_for

# InboundMessage.provider_message_id holds this much.
MESSAGE_ID_LENGTH = 300

# --- what is not a client's reply --------------------------------------------------
BOUNCE = "bounce"
AUTO_REPLY = "auto-reply"
RECEIPT = "read receipt"
OUR_OWN = "our own message"
NO_SENDER = "no sender"

_DAEMONS = {"mailer-daemon", "postmaster"}
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# X-Autoreply, X-Autorespond, X-Mail-Autoreply…; Outlook's X-Auto-Response-Suppress is
# a request not to answer *this* message and is on ordinary mail too.
_AUTO_HEADER = re.compile(r"^x-.*auto-?(reply|respon[ds])(?!.*suppress)", re.IGNORECASE)
# Vacation responders that set no header, by the subject their clients give them.
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?reply|autoresponse|out of (the )?office|auto:|"
    r"автоответ|автоматический ответ|автоответчик)",
    re.IGNORECASE,
)

# --- what is not the client's own words -------------------------------------------
_SEPARATOR = re.compile(
    r"^\s*[-_=]{2,}\s*(original message|forwarded message|исходное сообщение|"
    r"пересылаемое сообщение|перенаправленное сообщение|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|message d'origine)\s*[-_=]{2,}\s*$"
    r"|^\s*begin forwarded message:\s*$",
    re.IGNORECASE,
)
# Outlook's header block of the quoted message: "From: …" then "Sent: …" a line or few below.
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|от|від|von|de)\s*:\*?\s*\S", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(
    r"^\s*\*?(sent|date|отправлено|дата|gesendet|envoyé)\s*:\*?\s*\S", re.IGNORECASE
)
# "On Mon, 2 Mar 2026 at 10:00, Кедр <shop@kedr.example> wrote:", «… пишет:», «… написал(а):»
_ATTRIBUTION_VERB = re.compile(
    r"(wrote|writes|пишет|написал|написала|написал\(а\)|schrieb|a écrit)\s*:\s*$",
    re.IGNORECASE,
)
# Gmail in Russian, Yandex and Mail.ru name no verb: "пн, 2 мар. 2026 г. в 10:00, Кедр <a@b>:"
_ATTRIBUTION_ADDRESS = re.compile(r"\d.*<?[^\s<>@]+@[^\s<>@]+>?\s*:\s*$")
# The Bat!: "Вы писали 2 марта 2026 г., 10:00:"
_ATTRIBUTION_LEAD = re.compile(r"^\s*(вы писали|ты писал|ты писала|you wrote)\b.*:\s*$", re.I)
# How a wrapped attribution begins ("On Mon, …", "2 марта…", "пн, 2 мар."): only such a
# line is joined with the next ones, never the client's own last sentence.
_ATTRIBUTION_START = re.compile(
    r"^\s*((on|le|am|el|em)\s|\d|(пн|вт|ср|чт|пт|сб|вс|понедельник|вторник|среда|четверг|"
    r"пятница|суббота|воскресенье)\b)",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE_FOOTER = re.compile(
    r"^\s*(sent from my .+|sent from (mail|outlook|yahoo mail) for .+|get outlook for .+|"
    r"отправлено (с|из) .+|послано с .+|с уважением, отправлено .+)$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*[-_=*]{3,}\s*$")

_CHARSET_ALIASES = {"win-1251": "cp1251", "cp-1251": "cp1251", "x-cp1251": "cp1251",
                    "win1251": "cp1251", "koi8r": "koi8-r", "x-mac-cyrillic": "mac-cyrillic"}


def parse_reply(raw: bytes) -> InboundEvent | None:
    """The client's reply in `raw`, or None when it is an auto-reply, a bounce or no reply."""
    message = read_message(raw)
    return None if why_not_a_reply(message) else reply_event(message, raw)


def read_message(raw: bytes) -> Message:
    # compat32 keeps malformed headers as they came instead of raising on them.
    return message_from_bytes(raw, policy=policy.compat32)


def reply_event(message: Message, raw: bytes) -> InboundEvent:
    """The event of a message that `why_not_a_reply` let through."""
    # NUL never reaches the database: PostgreSQL's text cannot hold it.
    return InboundEvent(
        sender=sender_address(message),
        text=reply_text(message).replace("\x00", ""),
        provider_message_id=message_id(message, raw),
        in_reply_to=our_message_replied(message),
        payload={"subject": header_text(message, "Subject").replace("\x00", "")},
    )


def why_not_a_reply(message: Message) -> str:
    """Empty for a client's reply; else why it is none (bounce, auto-reply, receipt…)."""
    content_type = message.get_content_type()
    if content_type == "multipart/report":
        report = str(message.get_param("report-type") or "").lower()
        return RECEIPT if report == "disposition-notification" else BOUNCE
    if any(p.get_content_type() == "message/delivery-status" for p in message.walk()):
        return BOUNCE
    sender = sender_address(message)
    if not sender:
        return NO_SENDER
    if sender.partition("@")[0] in _DAEMONS or message.get("X-Failed-Recipients"):
        return BOUNCE
    if key_for_message_id(header_text(message, "Message-ID")):
        return OUR_OWN  # a copy of what we sent (a Bcc to the reply box), not an answer
    auto_submitted = header_text(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return AUTO_REPLY
    precedence = (header_text(message, "Precedence") or header_text(message, "X-Precedence"))
    if precedence.strip().lower() in _BULK_PRECEDENCE:
        return AUTO_REPLY
    for name, value in message.items():
        if _AUTO_HEADER.match(name) and str(value).strip().lower() not in ("", "no", "false"):
            return AUTO_REPLY
    # RFC 5321 §4.5.5: only automatic mail is sent from the null reverse-path.
    if header_text(message, "Return-Path").strip() == "<>":
        return AUTO_REPLY
    if _AUTO_SUBJECT.match(header_text(message, "Subject")):
        return AUTO_REPLY
    return ""


def sender_address(message: Message) -> str:
    """The From address in lower case ('' when there is none)."""
    value = message.get("From")
    raw = header_text(message, "From") if isinstance(value, Header) else str(value or "")
    for _name, address in getaddresses([raw]):
        if "@" in address:
            return address.strip().lower()
    return ""


def message_id(message: Message, raw: bytes) -> str:
    """The message's Message-ID; for one without, a digest of the message (still unique)."""
    value = header_text(message, "Message-ID").strip()
    if value:
        return value[:MESSAGE_ID_LENGTH]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def our_message_replied(message: Message) -> str:
    """The first message of ours the reply names: In-Reply-To, then References from the
    nearest ancestor back (the client may answer a colleague's copy in our thread)."""
    candidates = _message_ids(header_text(message, "In-Reply-To"))
    candidates += reversed(_message_ids(header_text(message, "References")))
    for candidate in candidates:
        key = key_for_message_id(candidate)
        if key:
            return message_id_for(key)
    return ""


def key_for_message_id(value: str) -> str:
    """The touch's idempotency key in a Message-ID of ours (message_id_for), else ''."""
    found = re.fullmatch(r"\s*<?([^<>@\s]+)@([^<>@\s]+?)>?\s*", value)
    if found is None:
        return ""
    key, domain = found.groups()
    return key if domain.lower() == settings.KASATKA_MESSAGE_ID_DOMAIN.lower() else ""


def _message_ids(value: str) -> list[str]:
    ids = re.findall(r"<[^<>\s]+>", value)
    return ids or value.split()


# --- headers and bodies ----------------------------------------------------------
def header_text(message: Message, name: str) -> str:
    """A header as text: RFC 2047 words decoded, raw 8-bit (often cp1251) guessed."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        chunks = decode_header(value)
    except (ValueError, LookupError):  # a malformed encoded word: keep it as it came
        return str(value)
    text = "".join(
        chunk if isinstance(chunk, str) else decode_bytes(chunk, charset)
        for chunk, charset in chunks
    )
    return re.sub(r"\s+", " ", text).strip()


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in the declared charset; mislabelled or unlabelled ones as UTF-8 or cp1251."""
    declared = _CHARSET_ALIASES.get((charset or "").lower(), charset or "")
    if declared and declared.lower() != "unknown-8bit":
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(declared, "replace") if declared else data.decode("cp1251")
    except LookupError:
        # An unknown charset name: in Russian mail the likeliest is Windows-1251.
        return data.decode("cp1251", "replace")


def reply_text(message: Message) -> str:
    """The client's own words: the plain-text body (else the HTML one), history cut off."""
    plain = html = None
    for part in _body_parts(message):
        if part.get_content_type() == "text/plain" and plain is None:
            plain = part
        elif part.get_content_type() == "text/html" and html is None:
            html = part
    text = _part_text(plain) if plain is not None else ""
    if plain is not None and _is_flowed(plain):
        text = unflow(text, str(plain.get_param("delsp") or "").lower() == "yes")
    if not text.strip() and html is not None:
        text = html_to_text(_part_text(html))
    return strip_history(text)


def _body_parts(part: Message) -> Iterator[Message]:
    """Text parts of the body: attachments and attached messages are not the reply."""
    if part.get_content_maintype() == "message":
        return
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                yield from _body_parts(sub)
        return
    if part.get_content_maintype() == "text" and part.get_content_disposition() != "attachment":
        yield part


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)  # quoted-printable and base64 undone
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset()).replace("\r\n", "\n")


def _is_flowed(part: Message) -> bool:
    return str(part.get_param("format") or "").lower() == "flowed"


def unflow(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: soft line breaks (a trailing space) joined back."""
    lines: list[str] = []
    pending: str | None = None
    pending_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if pending is not None and depth != pending_depth:
            lines.append(_quoted(pending_depth, pending))
            pending = None
        joined = (pending or "") + content
        if content.endswith(" ") and content != "-- ":
            pending, pending_depth = (joined[:-1] if delsp else joined), depth
            continue
        lines.append(_quoted(depth, joined))
        pending = None
    if pending is not None:
        lines.append(_quoted(pending_depth, pending))
    return "\n".join(lines)


def _quoted(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text


# --- cutting the history off -------------------------------------------------------
def strip_history(text: str) -> str:
    """The text without quoted history, signature and mobile footers."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_quoted(line):
            i += 1
            continue
        if _SEPARATOR.match(line) or _outlook_block_at(lines, i) or _SIGNATURE.match(line):
            break
        span = _attribution_span(lines, i)
        if span:
            following = next((n for n in lines[i + span:] if n.strip()), None)
            if following is None or _is_quoted(following):
                # Quoted with ">": the client may answer between the quotes; keep going.
                i += span
                continue
            break  # history follows unquoted (Outlook, HTML without blockquote)
        kept.append(line)
        i += 1
    return _tidy(_drop_footer(kept))


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _outlook_block_at(lines: list[str], i: int) -> bool:
    if not _OUTLOOK_FROM.match(lines[i]):
        return False
    below = [n for n in lines[i + 1:i + 6] if n.strip()][:4]
    return any(_OUTLOOK_SENT.match(n) for n in below)


def _attribution_span(lines: list[str], i: int) -> int:
    """How many lines an attribution starting at line i takes (it may wrap), else 0."""
    joined = ""
    for span in range(1, 4):
        if i + span > len(lines):
            return 0
        if span > 1 and (not lines[i + span - 1].strip() or not _ATTRIBUTION_START.match(lines[i])):
            return 0
        joined = f"{joined} {lines[i + span - 1].strip()}".strip()
        if len(joined) > 400:
            return 0
        if (_ATTRIBUTION_VERB.search(joined) or _ATTRIBUTION_ADDRESS.search(joined)
                or _ATTRIBUTION_LEAD.match(joined)):
            return span
    return 0


def _drop_footer(lines: list[str]) -> list[str]:
    # "Sent from my iPhone" and the like close the text; only near its end.
    text_rows = [n for n, line in enumerate(lines) if line.strip()]
    for n in text_rows[-2:]:
        if _MOBILE_FOOTER.match(lines[n]):
            return lines[:n]
    return lines


def _tidy(lines: list[str]) -> str:
    while lines and (not lines[-1].strip() or _RULE.match(lines[-1])):
        lines.pop()
    text = "\n".join(lines).strip("\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- HTML-only mail ----------------------------------------------------------------
class _HtmlText(HTMLParser):
    """HTML as the text a reader sees; blockquotes become "> " lines, as in plain text."""

    BLOCKS = frozenset({
        "address", "article", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tr", "ul",
    })
    SKIP = frozenset({"head", "script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.depth = 0
        self.skipping = 0

    def _break(self, force: bool = False) -> None:
        text = re.sub(r"[ \t\r\n\f\u00a0]+", " ", "".join(self.current)).strip()
        if text or force:
            self.lines.append(("> " * self.depth + text).rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag == "br":
            self._break(force=True)
        elif tag == "blockquote":
            self._break()
            self.depth += 1
        elif tag in self.BLOCKS:
            self._break()
        elif tag in ("td", "th"):
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._break(force=True)
        elif tag == "hr":
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "blockquote":
            self._break()
            self.depth = max(self.depth - 1, 0)
        elif tag == "p":
            self._break()
            self.lines.append("> " * self.depth if self.depth else "")
        elif tag in self.BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.current.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(line.rstrip() for line in self.lines).strip("\n")


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()
