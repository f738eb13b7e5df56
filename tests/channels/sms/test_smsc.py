"""SMSC.ru against a local server speaking its documented API, and its callbacks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlencode

from kasatka.chains.models import TouchStatus
from kasatka.channels.models import InboundMessage
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import AddressState, ConsentStatus, Purpose
from tests.channels.contract import ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

NUMBER = "+79161234567"
FORM = "application/x-www-form-urlencoded"


def form(fields: dict[str, str], charset: str = "utf-8") -> bytes:
    return urlencode(fields, encoding=charset).encode()


class TestSmscContract(ChannelContract):
    channel = "sms"
    provider = "smsc"
    address = NUMBER
    secrets = {"login": "kedr", "password": "s3cret-Psw"}
    options = {"sender": "Kedr"}
    message_id = "t17-42"

    def success(self) -> Answer:
        return Answer(200, {"id": self.message_id, "cnt": 2})

    def permanent(self) -> Answer:
        return Answer(200, {"error": "invalid number", "error_code": 7, "id": self.message_id})

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", "/sys/send.php")
        fields = r.form
        assert fields["login"] == ["kedr"]
        assert fields["psw"] == ["s3cret-Psw"]
        assert fields["phones"] == [NUMBER]
        assert fields["sender"] == ["Kedr"]
        assert fields["fmt"] == ["3"]
        assert fields["charset"] == ["utf-8"]
        # Our key goes as SMSC's message id, so its statuses name our touch.
        assert fields["id"] == [sent.touch.idempotency_key]
        text = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"
        assert fields["mes"] == [text]

    def status_hook(self, message_id: str) -> Hook:
        fields = {"id": message_id, "phone": NUMBER.lstrip("+"), "status": "1", "err": "0",
                  "time": "02.03.2026 10:00:05", "ts": "1772445605"}
        return Hook(form(fields), FORM)

    def forge(self, hook: Hook) -> Hook:
        # SMSC's optional checksum secret would sit in the same handler address as our
        # key; the key is the credential, and a made-up one must touch nothing.
        return replace(hook, key="a-made-up-key")

    # --- beyond the contract -----------------------------------------------------
    def test_an_account_error_fails_the_touch_but_not_the_number(self, world, server):
        s = server(Answer(200, {"error": "authorise error", "error_code": 2}))
        touch = world.send(s)
        assert touch.status == TouchStatus.FAILED
        assert touch.error == "SMSC 2: authorise error"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    def test_too_many_requests_is_retried_later(self, world, server):
        s = server(Answer(200, {"error": "duplicate request, wait a minute", "error_code": 9}))
        touch = world.send(s)
        assert touch.status == TouchStatus.DEFERRED
        touch.enrollment.refresh_from_db()
        assert touch.enrollment.next_touch_at >= world.clock.now() + timedelta(minutes=1)

    def test_the_api_key_replaces_login_and_password(self, world, server, monkeypatch):
        monkeypatch.setattr(type(self), "secrets", {"apikey": "KEY-123"})
        s = server(self.success())
        world.send(s)
        fields = s.requests[0].form
        assert fields["apikey"] == ["KEY-123"]
        assert "login" not in fields and "psw" not in fields

    def test_a_wrong_number_status_bounces_the_address(self, world, server):
        touch = world.send(server(self.success()))
        fields = {"id": touch.provider_message_id, "phone": "79161234567", "status": "22",
                  "err": "0"}
        assert world.post_hook(Hook(form(fields), FORM)).status_code == 200
        touch.refresh_from_db()
        assert touch.status == TouchStatus.BOUNCED
        assert touch.error == "SMSC status 22"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BOUNCED

    def test_a_json_status_callback_is_read_too(self, world, server):
        touch = world.send(server(self.success()))
        body = json.dumps({"id": touch.provider_message_id, "phone": "79161234567",
                           "status": "2", "err": "0"}).encode()
        assert world.post_hook(Hook(body, "application/json", query="?fmt=3")).status_code == 200
        touch.refresh_from_db()
        assert touch.status == TouchStatus.OPENED

    def test_a_stop_reply_withdraws_sms_consent(self, world, server):
        world.connect(server(self.success()))
        fields = {"sms_id": "881", "phone": "79161234567", "mes": "СТОП", "to": "79001112233",
                  "sent": "1772445605"}
        response = world.post_hook(Hook(form(fields), FORM, query="?charset=utf-8"))
        assert response.status_code == 200
        assert self.sms_consent(world) == {ConsentStatus.WITHDRAWN}
        message = InboundMessage.objects.get()
        assert (message.text, message.contact, message.sender) == (
            "СТОП", world.contact, NUMBER,
        )

    def test_a_reply_in_smsc_default_windows_1251_is_decoded(self, world, server):
        world.connect(server(self.success()))
        fields = {"sms_id": "882", "phone": "79161234567", "mes": "Стоп"}
        response = world.post_hook(Hook(form(fields, "windows-1251"), FORM))
        assert response.status_code == 200
        assert InboundMessage.objects.get().text == "Стоп"
        assert self.sms_consent(world) == {ConsentStatus.WITHDRAWN}

    def test_a_forged_stop_reply_records_nothing(self, world, server):
        world.connect(server(self.success()))
        fields = {"sms_id": "883", "phone": "79161234567", "mes": "СТОП"}
        hook = Hook(form(fields), FORM, query="?charset=utf-8", key="a-made-up-key")
        assert world.post_hook(hook).status_code == 403
        assert InboundMessage.objects.count() == 0
        assert self.sms_consent(world) == {ConsentStatus.GRANTED}

    def test_a_status_that_repeats_our_text_is_not_a_reply(self, world, server):
        touch = world.send(server(self.success()))
        fields = {"id": touch.provider_message_id, "phone": "79161234567", "status": "1",
                  "mes": "Напишите СТОП, чтобы отписаться"}
        assert world.post_hook(Hook(form(fields), FORM, query="?charset=utf-8")).status_code == 200
        touch.refresh_from_db()
        assert touch.status == TouchStatus.DELIVERED
        assert InboundMessage.objects.count() == 0

    def test_an_unknown_charset_is_a_bad_request(self, world, server):
        world.connect(server(self.success()))
        fields = {"sms_id": "884", "phone": "79161234567", "mes": "STOP"}
        hook = Hook(form(fields), FORM, query="?charset=klingon-8")
        assert world.post_hook(hook).status_code == 400
        assert InboundMessage.objects.count() == 0

    @staticmethod
    def sms_consent(world) -> set[str]:
        states = consent_states([world.contact.pk])
        return {
            status for (contact, channel, purpose), status in states.items()
            if channel == "sms" and purpose in Purpose.values
        }

