"""Replies as real mail clients write them: headers, MIME structure, encodings, quoting.

Each builder returns the raw message (bytes) a client would send in answer to our
message `in_reply_to` (a Message-ID of ours). The quoted part is what Kasatka sent:
the greeting, the news, and our "--" footer with the unsubscribe link.
"""

from __future__ import annotations

import base64
import quopri
from email.header import Header

SHOP = "Мебель «Кедр» <shop@kedr.example>"
ANNA = "anna@example.com"
OURS = "<t5-3@kasatka.local>"
QUOTED = [
    "Анна Сергеевна, добрый день!",
    "",
    "У нас новая коллекция кухонь. Мебель «Кедр»",
    "",
    "--",
    "Unsubscribe: https://kasatka.example/u/5.email.t5-3:abc",
]
QUOTED_HTML = (
    "<p>Анна Сергеевна, добрый день!</p><p>У нас новая коллекция кухонь. Мебель «Кедр»</p>"
    '<hr><p><a href="https://kasatka.example/u/5.email.t5-3:abc">Unsubscribe</a></p>'
)


def _words(text: str, charset: str = "utf-8") -> str:
    """A header value as clients encode non-ASCII text (RFC 2047)."""
    return Header(text, charset).encode()


def _part(content_type: str, text: str, charset: str = "utf-8", encoding: str = "base64",
          extra: str = "") -> bytes:
    data = text.replace("\n", "\r\n").encode(charset)
    if encoding == "base64":
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
    elif encoding == "quoted-printable":
        body = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        body = data
    head = (f"Content-Type: {content_type}; charset=\"{charset}\"{extra}\r\n"
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n")
    return head.encode() + body


def _message(headers: list[str], parts: list[bytes], boundary: str = "",
             subtype: str = "alternative") -> bytes:
    head = "\r\n".join(headers).encode("utf-8")
    if not boundary:
        return head + b"\r\n" + parts[0]
    out = head + (
        f"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/{subtype}; "
        f'boundary="{boundary}"\r\n\r\n'
    ).encode()
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _threading(in_reply_to: str, references: str | None = None) -> list[str]:
    return [f"In-Reply-To: {in_reply_to}", f"References: {references or in_reply_to}"]


# --- clients ------------------------------------------------------------------------
def gmail(text: str, in_reply_to: str = OURS, sender: str = ANNA, russian: bool = False,
          message_id: str = "<CAJ8kR3xq7Z+Yf0@mail.gmail.com>",
          references: str | None = None) -> bytes:
    """Gmail, web: text and HTML; the attribution wraps to a second line in plain text."""
    if russian:
        attribution = ["пн, 2 мар. 2026 г. в 10:00, Мебель «Кедр» <shop@kedr.example>:"]
    else:
        attribution = ["On Mon, Mar 2, 2026 at 10:00 AM Мебель «Кедр» <shop@kedr.example>",
                       "wrote:"]
    plain = "\n".join([
        text, "", *attribution, "", *(f"> {line}".rstrip() for line in QUOTED), ">", "",
    ])
    html = (
        f'<div dir="ltr">{text.replace(chr(10), "<br>")}</div><br><div class="gmail_quote">'
        f'<div dir="ltr" class="gmail_attr">{" ".join(attribution).replace("<", "&lt;")}'
        '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{QUOTED_HTML}'
        "</blockquote></div>\r\n"
    )
    headers = [
        *_threading(in_reply_to, references),
        f"From: {_words('Анна Иванова')} <{sender}>",
        "Date: Mon, 2 Mar 2026 11:15:42 +0300",
        f"Message-ID: {message_id}",
        f"Subject: Re: {_words('Анна, новость №1')}",
        f"To: {_words('Мебель «Кедр»')} <shop@kedr.example>",
    ]
    return _message(headers, [
        _part("text/plain", plain), _part("text/html", html, encoding="quoted-printable"),
    ], boundary="000000000000a3f1b705f2c8e9d1")


def outlook(text: str, in_reply_to: str = OURS, russian: bool = True,
            extra_headers: tuple[str, ...] = ()) -> bytes:
    """Outlook for Windows: windows-1251 quoted-printable; history in a header block."""
    if russian:
        block = ["От: Мебель «Кедр» <shop@kedr.example>",
                 "Отправлено: понедельник, 2 марта 2026 г. 10:00",
                 f"Кому: {ANNA}", "Тема: Анна, новость №1"]
    else:
        block = ["From: Мебель «Кедр» <shop@kedr.example> ",
                 "Sent: Monday, March 2, 2026 10:00 AM",
                 f"To: {ANNA}", "Subject: Анна, новость №1"]
    plain = "\n".join([text, "", *block, "", *QUOTED, ""])
    headers = [
        f"From: {_words('Иванова Анна Сергеевна', 'windows-1251')} <{ANNA}>",
        f"To: {_words('Мебель «Кедр»', 'windows-1251')} <shop@kedr.example>",
        f"Subject: {_words('RE: Анна, новость №1', 'windows-1251')}",
        "Date: Mon, 2 Mar 2026 12:01:07 +0300",
        "Message-ID: <000001dc8a9f$5e1c2b70$1a548250$@example.com>",
        *_threading(in_reply_to),
        "X-Mailer: Microsoft Outlook 16.0",
        "Thread-Index: AQHcip9eHCtwGlSCUCu2kB3kI0Q6Ww==",
        "Content-Language: ru",
        *extra_headers,
    ]
    html = "<html><body><p class=MsoNormal>" + text + "</p></body></html>"
    return _message(headers, [
        _part("text/plain", plain, "windows-1251", "quoted-printable"),
        _part("text/html", html, "windows-1251", "quoted-printable"),
    ], boundary="----=_NextPart_000_0001_01DC8AB8.83685B70")


def outlook_web_html_only(text: str, in_reply_to: str = OURS) -> bytes:
    """Outlook on the web set to HTML only: the history under a bold From/Sent block."""
    html = (
        '<html><head><style type="text/css">P {margin-top:0;margin-bottom:0;}</style>'
        f'</head><body dir="ltr"><div style="font-family: Calibri">{text}</div>'
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:'
        '11pt" color="#000000"><b>From:</b> Мебель «Кедр» &lt;shop@kedr.example&gt;<br>'
        "<b>Sent:</b> Monday, March 2, 2026 10:00 AM<br><b>To:</b> anna@outlook.com<br>"
        "<b>Subject:</b> Анна, новость №1</font><div>&nbsp;</div></div>"
        f"<div>{QUOTED_HTML}</div></body></html>"
    )
    headers = [
        "From: Anna Ivanova <anna@outlook.com>",
        "To: shop@kedr.example",
        f"Subject: {_words('Re: Анна, новость №1')}",
        "Date: Mon, 2 Mar 2026 09:30:00 +0000",
        "Message-ID: <AM0PR02MB5571C1@AM0PR02MB5571.eurprd02.prod.outlook.com>",
        *_threading(in_reply_to),
        "MIME-Version: 1.0",
    ]
    return _message(headers, [_part("text/html", html)])


def yandex_html_only(text: str, in_reply_to: str = OURS, sender: str = "anna@yandex.ru") -> bytes:
    """Yandex Mail, web: HTML only, the history in a blockquote under its attribution."""
    html = (
        f"<div>{text}</div><div>&nbsp;</div><div>&nbsp;</div>"
        '<div>02.03.2026, 10:00, "Мебель «Кедр»" &lt;shop@kedr.example&gt;:</div>'
        f"<blockquote>{QUOTED_HTML}</blockquote>"
    )
    headers = [
        f"From: {_words('Анна Иванова')} <{sender}>",
        "To: shop@kedr.example",
        f"Subject: {_words('Re: Анна, новость №1')}",
        "Date: Mon, 02 Mar 2026 13:05:11 +0300",
        "Message-Id: <1234561772445511@mail.yandex.ru>",
        *_threading(in_reply_to),
        "MIME-Version: 1.0",
        "X-Mailer: Yamail [ http://yandex.ru ] 5.0",
    ]
    return _message(headers, [_part("text/html", html)])


def mailru(text: str, in_reply_to: str = OURS, sender: str = "anna@mail.ru") -> bytes:
    """Mail.ru, mobile: the attribution is quoted too; a "sent from" line ends the text."""
    plain = "\n".join([
        text, "", "--", "Анна Иванова", "Отправлено из мобильной Почты Mail", "", "",
        ">Понедельник, 2 марта 2026, 10:00 +03:00 от Мебель «Кедр» <shop@kedr.example>:",
        ">", *(f">{line}" for line in QUOTED), "",
    ])
    headers = [
        f"From: {_words('Анна Иванова')} <{sender}>",
        "To: shop@kedr.example",
        f"Subject: {_words('Re[2]: Анна, новость №1')}",
        "Date: Mon, 02 Mar 2026 14:44:00 +0300",
        "Message-ID: <1772451840.512345678@f101.i.mail.ru>",
        *_threading(in_reply_to),
        "MIME-Version: 1.0",
        "X-Mailer: Mail.Ru Mailer 1.0",
    ]
    return _message(headers, [
        _part("text/plain", plain),
        _part("text/html", "<div>" + text + "</div>"),
    ], boundary="--ALT--b5Ff8A0e6C1d2E3f41772451840")


def thunderbird_koi8r(text_lines: list[str], in_reply_to: str = OURS,
                      quoted_first: bool = False) -> bytes:
    """Thunderbird: KOI8-R, 8-bit, format=flowed (soft breaks end in a space).

    KOI8-R has no «» nor №: the shop's name is in plain quotes here, as it would have to
    be for Thunderbird to keep to KOI8-R."""
    attribution = '02.03.2026 10:00, Мебель "Кедр" пишет:'
    quote = [f"> {line}".rstrip().replace("«", '"').replace("»", '"') for line in QUOTED]
    if quoted_first:  # answering between the quotes
        body = [attribution, *quote[:1], "", *text_lines, "", *quote[2:3], "", "-- ", "Анна"]
    else:
        body = [*text_lines, "", "-- ", "Анна", "", attribution, *quote]
    headers = [
        f"From: {_words('Анна Иванова', 'koi8-r')} <anna@example.com>",
        "To: shop@kedr.example",
        f"Subject: {_words('Re: Анна, новость 1', 'koi8-r')}",
        "Date: Mon, 2 Mar 2026 15:20:31 +0300",
        "Message-ID: <7e1b0c2a-3f4d-4a11-9c2e-5d6f7a8b9c0d@example.com>",
        *_threading(in_reply_to),
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: ru",
    ]
    part = _part("text/plain", "\n".join(body) + "\n", "koi8-r", "8bit",
                 extra="; format=flowed")
    return _message(headers, [part])


def old_mailer_cp1251(text: str, in_reply_to: str = OURS) -> bytes:
    """An old Windows mailer (The Bat!-style): cp1251 8-bit body and a raw 8-bit Subject."""
    body = "\n".join([
        "Здравствуйте, Мебель.", "", text, "",
        "Вы писали 2 марта 2026 г., 10:00:", "", *(f"> {line}".rstrip() for line in QUOTED),
        "", "--", "С уважением,", " Анна                          mailto:anna@example.com", "",
    ])
    head = "\r\n".join([
        "From: Anna <anna@example.com>",
        "To: shop@kedr.example",
        "Subject: Re: Анна, новость №1",
        "Date: Mon, 2 Mar 2026 16:02:11 +0300",
        "Message-ID: <1839204761.20260302160211@example.com>",
        *_threading(in_reply_to),
        "X-Mailer: The Bat! (v10.4.0.1) Professional",
        "MIME-Version: 1.0",
    ]).encode("cp1251")
    return head + b"\r\n" + _part("text/plain", body, "windows-1251", "8bit")


def iphone(text: str, in_reply_to: str = OURS) -> bytes:
    """Mail on iPhone: quoted-printable; its "Отправлено с iPhone" before the quote."""
    body = "\n".join([
        text, "", "Отправлено с iPhone", "",
        "> 2 марта 2026 г., в 10:00, Мебель «Кедр» <shop@kedr.example> написал(а):",
        ">", *(f"> \ufeff{line}".rstrip() for line in QUOTED), "",
    ])
    headers = [
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "Mime-Version: 1.0 (1.0)",
        f"From: {_words('Анна')} <{ANNA}>",
        *_threading(in_reply_to),
        "Date: Mon, 2 Mar 2026 17:45:03 +0300",
        "Message-Id: <3A1C2B7E-8E0B-4B44-9F0A-5C1D2E3F4A5B@example.com>",
        "To: shop@kedr.example",
        "X-Mailer: iPhone Mail (22D72)",
        f"Subject: {_words('Re: Анна, новость №1')}",
    ]
    data = body.replace("\n", "\r\n").encode("utf-8")
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + quopri.encodestring(data)


# --- what is no reply ---------------------------------------------------------------
def postfix_bounce(our_message_id: str = OURS, to: str = ANNA) -> bytes:
    """Postfix's delivery status notification for a message of ours."""
    return "\r\n".join([
        "Return-Path: <>",
        "From: MAILER-DAEMON@mx.kedr.example (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        "To: shop@kedr.example",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status;',
        '\tboundary="7A1C2B3D4E.1772445600/mx.kedr.example"',
        "Message-Id: <20260302100000.7A1C2B3D4E@mx.kedr.example>",
        "Date: Mon,  2 Mar 2026 10:00:00 +0300 (MSK)",
        "",
        "--7A1C2B3D4E.1772445600/mx.kedr.example",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system at host mx.kedr.example.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients.",
        "",
        f"<{to}>: host mx.example.com[203.0.113.5] said: 550 5.1.1 User unknown",
        "",
        "--7A1C2B3D4E.1772445600/mx.kedr.example",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.kedr.example",
        "",
        f"Final-Recipient: rfc822; {to}",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown",
        "",
        "--7A1C2B3D4E.1772445600/mx.kedr.example",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        f"Message-ID: {our_message_id}",
        "From: shop@kedr.example",
        f"To: {to}",
        "",
        "--7A1C2B3D4E.1772445600/mx.kedr.example--",
        "",
    ]).encode()


def exchange_out_of_office(in_reply_to: str = OURS) -> bytes:
    """Exchange's automatic reply ("out of office")."""
    text = "Я в отпуске до 10 марта. По срочным вопросам: +7 916 000-00-00."
    headers = [
        f"From: {_words('Иванова Анна Сергеевна')} <{ANNA}>",
        "To: shop@kedr.example",
        f"Subject: {_words('Автоматический ответ: Анна, новость №1')}",
        "Date: Mon, 2 Mar 2026 10:00:05 +0300",
        "Message-ID: <oof.8f1e2d3c@EX01.example.com>",
        *_threading(in_reply_to),
        "Auto-Submitted: auto-generated",
        "X-Auto-Response-Suppress: All",
        "X-MS-Exchange-Inbox-Rules-Loop: anna@example.com",
        "MIME-Version: 1.0",
    ]
    return _message(headers, [_part("text/plain", text)])


def vacation_by_subject(in_reply_to: str = OURS) -> bytes:
    """A responder that sets no header at all; only its subject gives it away."""
    headers = [
        f"From: <{ANNA}>",
        "To: shop@kedr.example",
        f"Subject: {_words('Автоответ: Re: Анна, новость №1')}",
        "Message-ID: <auto.5511@example.com>",
        *_threading(in_reply_to),
        "MIME-Version: 1.0",
    ]
    return _message(headers, [_part("text/plain", "Спасибо за письмо, отвечу позже.")])


def x_autoreply(in_reply_to: str = OURS) -> bytes:
    headers = [
        f"From: <{ANNA}>", "To: shop@kedr.example", "Subject: Re: news",
        "Message-ID: <xauto.17@example.com>", *_threading(in_reply_to),
        "X-Autoreply: yes", "MIME-Version: 1.0",
    ]
    return _message(headers, [_part("text/plain", "I am away.")])


def read_receipt(our_message_id: str = OURS) -> bytes:
    """A read receipt (RFC 8098 MDN) from Thunderbird."""
    return "\r\n".join([
        f"From: Anna <{ANNA}>",
        "To: shop@kedr.example",
        "Subject: =?UTF-8?B?0J/RgNC+0YfQuNGC0LDQvdC+?=: Anna, news",
        "Message-ID: <mdn.0c1d@example.com>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type="disposition-notification";',
        ' boundary="------------mdn1"',
        "",
        "--------------mdn1",
        "Content-Type: text/plain; charset=UTF-8",
        "",
        "This is a Return Receipt for the mail that you sent.",
        "",
        "--------------mdn1",
        "Content-Type: message/disposition-notification",
        "",
        "Reporting-UA: example.com; Thunderbird",
        f"Original-Message-ID: {our_message_id}",
        "Disposition: manual-action/MDN-sent-manually; displayed",
        "",
        "--------------mdn1--",
        "",
    ]).encode()
