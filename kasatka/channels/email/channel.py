"""E-mail through Django's e-mail backends, one SMTP connection per batch."""

from __future__ import annotations

import smtplib
from email.utils import formataddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _
from django.utils.translation import override

from kasatka.channels.base import BaseChannel, DeliveryError, DeliveryUncertain, Outbound
from kasatka.contacts.models import AddressKind, AddressState


def message_id_for(idempotency_key: str) -> str:
    """Message-ID derived from the touch's key: a resend can be recognised downstream."""
    return f"<{idempotency_key}@{settings.KASATKA_MESSAGE_ID_DOMAIN}>"


def _smtp_code_error(code: int, text: bytes | str, what: str) -> DeliveryError:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    message = f"SMTP {code} at {what}: {detail}"
    if 500 <= code < 600:
        return DeliveryError(message, permanent=True, address_state=AddressState.BOUNCED)
    return DeliveryError(message, permanent=False)


class EmailChannel(BaseChannel):
    code = "email"
    address_kind = AddressKind.EMAIL
    idempotent = False  # SMTP has no idempotency key: an interrupted send is "unknown"
    records_provider_id = False  # the Message-ID is message_id_for(key)

    def __init__(self, account: Any = None) -> None:
        super().__init__(account)
        self.connection: BaseEmailBackend | None = None
        self.open_error: DeliveryError | None = None

    def open(self) -> None:
        self.connection = get_connection(fail_silently=False)
        try:
            self.connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            # Nothing was handed over: every message of the batch may be retried.
            self.open_error = DeliveryError(f"cannot connect to the mail server: {exc}")

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.close()
            except (OSError, smtplib.SMTPException):
                pass  # the messages are already accounted for; a failed QUIT changes nothing
            self.connection = None

    def build_message(self, message: Outbound) -> EmailMultiAlternatives:
        business = message.business
        sender = business.email_from_address or settings.DEFAULT_FROM_EMAIL
        from_email = formataddr((business.email_from_name or business.name, sender))
        headers = {"Message-ID": message_id_for(message.idempotency_key), **message.headers}
        text = message.body
        html = linebreaks(escape(message.body))
        if message.unsubscribe_url:
            # RFC 8058: a mail client may unsubscribe with one POST, no page to visit.
            headers["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            with override(message.contact.language or business.language):
                footer = _("Unsubscribe")
            text = f"{text}\n\n--\n{footer}: {message.unsubscribe_url}\n"
            html += f'<hr><p><a href="{escape(message.unsubscribe_url)}">{escape(footer)}</a></p>'
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=text,
            from_email=from_email,
            to=[message.address.value],
            headers=headers,
            connection=self.connection,
        )
        email.attach_alternative(html, "text/html")
        email.encoding = "utf-8"
        return email

    def deliver(self, message: Outbound) -> str:
        if self.open_error is not None:
            raise self.open_error
        if self.connection is None:
            self.open()
            return self.deliver(message)
        email = self.build_message(message)
        try:
            self.connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise _smtp_code_error(code, text, "RCPT") from exc
        except smtplib.SMTPDataError as exc:
            raise _smtp_code_error(exc.smtp_code, exc.smtp_error, "DATA") from exc
        except smtplib.SMTPSenderRefused as exc:
            # Our sender address is refused: the contact's address is not at fault.
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: sender refused: {exc.smtp_error!r}"
            ) from exc
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            # The message may have been accepted before the connection broke:
            # never resend blindly over a channel with no idempotency.
            self.open_error = DeliveryError(f"mail server connection lost: {exc}")
            raise DeliveryUncertain(f"connection lost while sending: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_code_error(exc.smtp_code, exc.smtp_error, "SMTP") from exc
        return str(email.extra_headers["Message-ID"])
