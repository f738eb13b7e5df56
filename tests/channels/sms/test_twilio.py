"""Twilio against a local server speaking its documented API, and its signed webhooks."""

from __future__ import annotations

import base64
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode

from kasatka.chains.models import TouchStatus
from kasatka.channels.models import InboundMessage, ProviderAccount
from kasatka.channels.sms.twilio import signature
from kasatka.channels.views import hook_url
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import AddressState, ConsentStatus
from tests.channels.contract import ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

NUMBER = "+79161234567"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f5c1a3e7b9d24f6e8a0c2e4f6a8b0d2c"
OURS = "+15017122661"
FORM = "application/x-www-form-urlencoded"


def error(code: int, message: str, status: int = 400) -> Answer:
    """An error as Twilio's REST API answers it."""
    return Answer(status, {
        "code": code, "message": message, "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    })


def signed(fields: dict[str, str], token: str = TOKEN) -> Hook:
    """A webhook as Twilio posts it to our address, signed with `token`."""
    account = ProviderAccount.objects.get(provider="twilio")
    params = [(name, [value]) for name, value in fields.items()]
    sig = signature(token, hook_url(account), params)
    return Hook(urlencode(fields).encode(), FORM, headers={"X-Twilio-Signature": sig})


class TestTwilioContract(ChannelContract):
    channel = "sms"
    provider = "twilio"
    address = NUMBER
    secrets = {"account_sid": SID, "auth_token": TOKEN}
    options = {"from": OURS}
    message_id = "SM" + "a1b2c3d4" * 4

    def success(self) -> Answer:
        return Answer(201, {
            "sid": self.message_id, "account_sid": SID, "status": "queued",
            "to": NUMBER, "from": OURS, "num_segments": "2", "error_code": None,
        })

    def permanent(self) -> Answer:
        return error(21211, f"The 'To' number {NUMBER}1 is not a valid phone number.")

    def rate_limited(self, seconds: int) -> Answer:
        answer = error(20429, "Too Many Requests", 429)
        return replace(answer, headers={"Retry-After": str(seconds)})

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", f"/2010-04-01/Accounts/{SID}/Messages.json")
        headers = {k.lower(): v for k, v in r.headers.items()}
        assert headers["authorization"] == "Basic " + base64.b64encode(
            f"{SID}:{TOKEN}".encode()
        ).decode()
        fields = r.form
        assert fields["To"] == [NUMBER]
        assert fields["From"] == [OURS]
        assert "MessagingServiceSid" not in fields
        # Statuses come back to our webhook, signed for exactly this address.
        account = ProviderAccount.objects.get(provider="twilio")
        assert fields["StatusCallback"] == [hook_url(account)]
        assert fields["StatusCallback"][0].startswith("http://testserver/hooks/")
        text = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"
        assert fields["Body"] == [text]

    def status_hook(self, message_id: str) -> Hook:
        return signed({
            "MessageSid": message_id, "SmsSid": message_id, "AccountSid": SID,
            "MessageStatus": "delivered", "SmsStatus": "delivered",
            "To": NUMBER, "From": OURS, "ApiVersion": "2010-04-01",
        })

    def forge(self, hook: Hook) -> Hook:
        fields = dict(parse_qsl(hook.body.decode()))
        return replace(hook, headers=signed(fields, token="not-our-token").headers)

    # --- beyond the contract -----------------------------------------------------
    def test_recipient_who_said_stop_blocks_the_address(self, world, server):
        s = server(error(21610, "Attempt to send to unsubscribed recipient"))
        touch = world.send(s)
        assert touch.status in (TouchStatus.FAILED, TouchStatus.BOUNCED)
        assert touch.error == "Twilio 21610: Attempt to send to unsubscribed recipient"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BLOCKED
        assert len(s.requests) == 1

    def test_a_landline_bounces_the_address(self, world, server):
        touch = world.send(server(error(21614, f"'To' number {NUMBER} is not a mobile number")))
        assert touch.status in (TouchStatus.FAILED, TouchStatus.BOUNCED)
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BOUNCED

    def test_bad_credentials_fail_the_touch_but_not_the_number(self, world, server):
        touch = world.send(server(error(20003, "Authenticate", 401)))
        assert touch.status == TouchStatus.FAILED
        assert touch.error == "Twilio 20003: Authenticate"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    def test_a_messaging_service_replaces_the_from_number(self, world, server, monkeypatch):
        monkeypatch.setattr(type(self), "options", {"messaging_service_sid": "MG" + "9" * 32})
        s = server(self.success())
        world.send(s)
        fields = s.requests[0].form
        assert fields["MessagingServiceSid"] == ["MG" + "9" * 32]
        assert "From" not in fields

    def test_undelivered_to_an_unknown_handset_bounces(self, world, server):
        touch = world.send(server(self.success()))
        hook = signed({"MessageSid": touch.provider_message_id, "MessageStatus": "undelivered",
                       "ErrorCode": "30005", "AccountSid": SID, "To": NUMBER, "From": OURS})
        assert world.post_hook(hook).status_code == 200
        touch.refresh_from_db()
        assert touch.status == TouchStatus.BOUNCED
        assert touch.error == "Twilio undelivered, error 30005"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BOUNCED

    def test_a_signed_stop_reply_withdraws_sms_consent(self, world, server):
        world.connect(server(self.success()))
        response = world.post_hook(self.inbound("СТОП"))
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/xml")
        assert b"<Response></Response>" in response.content  # no automatic answer
        assert self.sms_consent(world) == {ConsentStatus.WITHDRAWN}
        message = InboundMessage.objects.get()
        assert (message.text, message.contact, message.provider_message_id) == (
            "СТОП", world.contact, "SM" + "f" * 32,
        )

    def test_a_forged_stop_reply_records_nothing(self, world, server):
        world.connect(server(self.success()))
        response = world.post_hook(self.forge(self.inbound("СТОП")))
        assert response.status_code == 403
        assert InboundMessage.objects.count() == 0
        assert self.sms_consent(world) == {ConsentStatus.GRANTED}

    def test_a_signature_of_other_parameters_is_refused(self, world, server):
        world.connect(server(self.success()))
        genuine = self.inbound("Спасибо, подумаю")
        tampered = replace(genuine, body=genuine.body.replace(
            urlencode({"Body": "Спасибо, подумаю"}).encode(), urlencode({"Body": "СТОП"}).encode()
        ))
        assert tampered.body != genuine.body
        assert world.post_hook(tampered).status_code == 403
        assert self.sms_consent(world) == {ConsentStatus.GRANTED}

    def test_a_hook_without_a_signature_is_refused(self, world, server):
        world.connect(server(self.success()))
        assert world.post_hook(replace(self.inbound("СТОП"), headers={})).status_code == 403
        assert InboundMessage.objects.count() == 0

    @staticmethod
    def inbound(text: str) -> Hook:
        return signed({
            "MessageSid": "SM" + "f" * 32, "SmsSid": "SM" + "f" * 32, "AccountSid": SID,
            "From": NUMBER, "To": OURS, "Body": text, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01",
        })

    @staticmethod
    def sms_consent(world) -> set[str]:
        states = consent_states([world.contact.pk])
        return {status for (_, channel, _), status in states.items() if channel == "sms"}


def test_signature_matches_twilios_documented_example():
    # The example of Twilio's webhook security guide: this URL, these parameters,
    # the Auth Token 12345.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    pairs = [(k, [v]) for k, v in params.items()]
    assert signature("12345", url, pairs) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    # Twilio sorts the parameters by name: the order they arrive in does not matter.
    assert signature("12345", url, reversed(pairs)) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature("54321", url, pairs) != "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
