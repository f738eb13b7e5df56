"""SMS.ru against a local server speaking its documented API."""

from __future__ import annotations

from dataclasses import replace

from tests.channels.contract import ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

NUMBER = "79161234567"


class TestSmsRuContract(ChannelContract):
    channel = "sms"
    provider = "smsru"
    address = "+" + NUMBER
    secrets = {"api_id": "F2D79B58-A5A2-2F9E-91C8-73D12CE2E102"}
    options = {"sender": "Kedr"}
    message_id = "000000-10000000"

    def success(self) -> Answer:
        return Answer(200, {
            "status": "OK", "status_code": 100, "balance": 4122.56,
            "sms": {NUMBER: {"status": "OK", "status_code": 100, "sms_id": self.message_id}},
        })

    def permanent(self) -> Answer:
        return Answer(200, {
            "status": "OK", "status_code": 100,
            "sms": {NUMBER: {"status": "ERROR", "status_code": 202,
                             "status_text": "Неправильно указан номер телефона получателя"}},
        })

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", "/sms/send")
        form = r.form
        assert form["api_id"] == [self.secrets["api_id"]]
        assert form["to"] == [NUMBER]
        assert form["from"] == ["Kedr"]
        assert form["json"] == ["1"]
        text = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"
        assert form["msg"] == [text]

    def status_hook(self, message_id: str) -> Hook:
        body = f"data%5B0%5D=sms_status%0A{message_id}%0A103%0A1700000000"
        return Hook(body.encode(), "application/x-www-form-urlencoded")

    def forge(self, hook: Hook) -> Hook:
        # SMS.ru signs nothing: its credential is the key in the address. A request to a
        # made-up key must not touch anything.
        return replace(hook, key="a-made-up-key")
