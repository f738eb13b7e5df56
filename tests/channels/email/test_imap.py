"""Replies fetched from a real IMAP server (pymap): `kasatka email_fetch` and the worker."""

from __future__ import annotations

import io
import logging
import socket
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from pymap.parsing.modutf7 import modutf7_encode  # the server's own encoder, to compare

from kasatka.chains.models import TouchStatus
from kasatka.channels.email import imap
from kasatka.channels.email.imap import fetch_all_replies, fetch_replies, mailbox_name
from kasatka.channels.models import InboundMessage
from kasatka.engine.triggers import run_triggers

from . import mails
from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_backoff():
    imap._backoff.clear()
    yield
    imap._backoff.clear()


def fetch(business: str | None = None) -> str:
    out = io.StringIO()
    call_command("email_fetch", *(["--business", business] if business else []), stdout=out)
    return out.getvalue()


def test_a_reply_in_the_mailbox_is_fetched_onto_the_contact_and_marks_the_touch(
    mailing_with, imap_server
):
    mailing = mailing_with("imap", imap_server.options(), PASSWORD)
    touch = mailing.send()
    imap_server.deliver(mails.gmail("Да, интересно. Позвоните мне.",
                                    in_reply_to=mailing.message_id(touch)))

    assert "1 read, 1 replies, 0 already recorded, 0 ignored" in fetch("kedr")

    message = InboundMessage.objects.get()
    assert (message.contact, message.touch, message.channel) == (mailing.anna, touch, "email")
    assert message.text == "Да, интересно. Позвоните мне."
    assert message.provider_message_id == "<CAJ8kR3xq7Z+Yf0@mail.gmail.com>"
    touch.refresh_from_db()
    assert touch.status == TouchStatus.REPLIED
    assert imap_server.uids(criterion="UNSEEN") == []
    assert len(imap_server.uids(criterion="SEEN")) == 1
    assert "0 read" in fetch(), "a message is fetched once"


def test_the_worker_polls_the_mailbox_among_its_triggers(mailing_with, imap_server):
    mailing = mailing_with("imap", imap_server.options(), PASSWORD)
    touch = mailing.send()
    imap_server.deliver(mails.iphone("Беру!", in_reply_to=mailing.message_id(touch)))
    mailing.run()  # the engine's own round: nothing due, so its triggers run
    assert InboundMessage.objects.get().touch == touch
    assert run_triggers(mailing.clock.now())["e-mail replies"] == 0, "nothing new"


def test_auto_replies_and_bounces_are_read_and_set_aside_not_recorded(
    mailing_with, imap_server
):
    mailing = mailing_with("imap", imap_server.options(), PASSWORD)
    touch = mailing.send()
    ours = mailing.message_id(touch)
    for raw in (mails.postfix_bounce(ours), mails.exchange_out_of_office(ours),
                mails.outlook("Пришлите каталог", in_reply_to=ours)):
        imap_server.deliver(raw)

    assert "3 read, 1 replies, 0 already recorded, 2 ignored" in fetch()
    assert InboundMessage.objects.get().text == "Пришлите каталог"
    assert imap_server.uids(criterion="UNSEEN") == []


def test_the_same_reply_twice_in_the_mailbox_is_recorded_once(mailing_with, imap_server):
    mailing = mailing_with("imap", imap_server.options(), PASSWORD)
    touch = mailing.send()
    raw = mails.gmail("Да", in_reply_to=mailing.message_id(touch))
    imap_server.deliver(raw)
    imap_server.deliver(raw)  # a forwarding rule that delivered it again
    assert "2 read, 1 replies, 1 already recorded, 0 ignored" in fetch()
    assert InboundMessage.objects.count() == 1


def test_processed_mail_is_moved_to_the_folder_named_even_in_russian(
    mailing_with, imap_server
):
    folder = "Ответы клиентов"
    imap_server.create(folder)
    mailing = mailing_with("imap", imap_server.options(move_to=folder), PASSWORD)
    touch = mailing.send()
    imap_server.deliver(mails.gmail("Да", in_reply_to=mailing.message_id(touch)))
    fetch()
    assert imap_server.uids("INBOX") == []
    assert len(imap_server.uids(folder, "SEEN")) == 1


@pytest.mark.parametrize("name", ["INBOX", "Ответы клиентов", "A&B Ответы", 'Say "да"'])
def test_folder_names_are_written_in_imaps_modified_utf7(name):
    expected = modutf7_encode(name).decode().replace("\\", "\\\\").replace('"', '\\"')
    assert mailbox_name(name) == f'"{expected}"'


def test_a_wrong_password_is_reported_and_leaves_the_mail_unread(mailing_with, imap_server):
    mailing = mailing_with("imap", imap_server.options(), "not-the-password")
    touch = mailing.send()
    imap_server.deliver(mails.gmail("Да", in_reply_to=mailing.message_id(touch)))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 mailboxes could not be read"):
        call_command("email_fetch", stderr=err)
    assert "kedr (127.0.0.1)" in err.getvalue()
    assert InboundMessage.objects.count() == 0
    assert len(imap_server.uids(criterion="UNSEEN")) == 1


def test_an_unknown_business_is_an_error(db):
    with pytest.raises(CommandError, match="no business"):
        fetch("no-such-shop")


class Refuser:
    """A TCP server that greets no one and hangs up: an IMAP server gone wrong."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def stop(self) -> None:
        self.listener.close()


def test_a_failing_server_is_logged_and_tried_again_only_after_a_pause(
    mailing_with, clock, caplog
):
    refuser = Refuser()
    try:
        mailing = mailing_with("imap", {"host": "127.0.0.1", "port": refuser.port,
                                        "ssl": False, "username": "x"}, "y")
        with caplog.at_level(logging.WARNING, logger="kasatka.channels"):
            assert fetch_all_replies(clock.now()) == 0
        assert refuser.accepted == 1
        assert f"IMAP poll of account {mailing.account.pk}" in caplog.text
        assert fetch_all_replies(clock.now() + timedelta(seconds=30)) == 0
        assert refuser.accepted == 1, "not tried again at once"
        assert fetch_all_replies(clock.now() + timedelta(minutes=1)) == 0
        assert refuser.accepted == 2
        assert fetch_all_replies(clock.now() + timedelta(minutes=2)) == 0
        assert refuser.accepted == 2, "the pause doubles"
    finally:
        refuser.stop()


def test_nothing_listening_is_an_error_not_a_crash(mailing_with):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    mailing = mailing_with("imap", {"host": "127.0.0.1", "port": port, "ssl": False}, "pw")
    fetched = fetch_replies(mailing.account)
    assert "ConnectionRefusedError" in fetched.error
    assert fetched.read == 0


def test_starttls_checks_the_servers_certificate(mailing_with, starttls_server, certificate):
    cert, _key = certificate
    options = starttls_server.options(starttls=True)
    mailing = mailing_with("imap", options, PASSWORD)
    touch = mailing.send()
    starttls_server.deliver(mails.gmail("Да", in_reply_to=mailing.message_id(touch)))
    assert "CERTIFICATE_VERIFY_FAILED" in fetch_replies(mailing.account).error

    mailing.account.options = {**options, "cafile": str(cert)}
    fetched = fetch_replies(mailing.account)
    assert (fetched.error, fetched.applied) == ("", 1)


def test_implicit_tls_checks_the_certificate(mailing_with, imap_server, tls_front, certificate):
    cert, _key = certificate
    options = {**imap_server.options(), "ssl": True, "port": tls_front.port}
    mailing = mailing_with("imap", {**options, "cafile": str(cert)}, PASSWORD)
    touch = mailing.send()
    imap_server.deliver(mails.gmail("Да", in_reply_to=mailing.message_id(touch)))

    mailing.account.options = options  # the system's CAs only: the test certificate is not
    assert "CERTIFICATE_VERIFY_FAILED" in fetch_replies(mailing.account).error
    assert InboundMessage.objects.count() == 0

    mailing.account.options = {**options, "cafile": str(cert)}
    fetched = fetch_replies(mailing.account)
    assert (fetched.error, fetched.applied) == ("", 1)
