"""Reading replies as mail clients write them: the client's words only, the right sender,
the message of ours they answer; auto-replies and bounces are no replies."""

from __future__ import annotations

import pytest

from kasatka.channels.email.inbound import (
    AUTO_REPLY,
    BOUNCE,
    OUR_OWN,
    RECEIPT,
    html_to_text,
    key_for_message_id,
    parse_reply,
    read_message,
    strip_history,
    why_not_a_reply,
)

from . import mails
from .mails import OURS


def reply(raw: bytes):
    event = parse_reply(raw)
    assert event is not None, why_not_a_reply(read_message(raw))
    return event


# --- the client's own words -----------------------------------------------------------
@pytest.mark.parametrize("russian", [False, True], ids=["english-ui", "russian-ui"])
def test_gmail_reply_keeps_only_the_clients_words(russian):
    text = "Здравствуйте! Да, интересно.\nПозвоните мне завтра после 18:00."
    event = reply(mails.gmail(text, russian=russian))
    assert event.text == text
    assert event.sender == "anna@example.com"
    assert event.provider_message_id == "<CAJ8kR3xq7Z+Yf0@mail.gmail.com>"
    assert event.in_reply_to == OURS
    assert event.payload == {"subject": "Re: Анна, новость №1"}


@pytest.mark.parametrize("russian", [True, False], ids=["от-отправлено", "from-sent"])
def test_outlook_history_under_its_header_block_is_cut(russian):
    text = "Добрый день. Пришлите, пожалуйста, каталог.\n\nС уважением,\nАнна Иванова"
    event = reply(mails.outlook(text, russian=russian))
    assert event.text == text  # windows-1251, quoted-printable
    assert "коллекция" not in event.text


def test_outlook_html_only_reply_is_read_as_text_without_its_history():
    event = reply(mails.outlook_web_html_only("Please send the catalogue &amp; prices."))
    assert event.text == "Please send the catalogue & prices."
    assert event.sender == "anna@outlook.com"


def test_yandex_html_only_reply_drops_the_blockquote_and_its_attribution():
    event = reply(mails.yandex_html_only("Спасибо, зайду в субботу.<br>Анна"))
    assert event.text == "Спасибо, зайду в субботу.\nАнна"


def test_mailru_reply_drops_the_quoted_attribution_signature_and_mobile_footer():
    event = reply(mails.mailru("Сколько стоит кухня «Ольха»?"))
    assert event.text == "Сколько стоит кухня «Ольха»?"
    assert event.sender == "anna@mail.ru"


def test_thunderbird_koi8r_flowed_paragraph_is_decoded_and_joined():
    event = reply(mails.thunderbird_koi8r([
        "Добрый день! Мне очень понравилась кухня из новой коллекции, ",
        "хочу приехать посмотреть её в субботу.",
    ]))
    assert event.text == (
        "Добрый день! Мне очень понравилась кухня из новой коллекции, "
        "хочу приехать посмотреть её в субботу."
    )
    assert event.payload["subject"] == "Re: Анна, новость 1"


def test_an_answer_written_between_the_quotes_is_kept():
    event = reply(mails.thunderbird_koi8r(["Спасибо, и вам!"], quoted_first=True))
    assert event.text == "Спасибо, и вам!"


def test_cp1251_8bit_body_and_raw_8bit_subject_are_decoded():
    event = reply(mails.old_mailer_cp1251("Цены пришлите, пожалуйста."))
    assert event.text == "Здравствуйте, Мебель.\n\nЦены пришлите, пожалуйста."
    assert event.payload["subject"] == "Re: Анна, новость №1"


def test_iphone_reply_loses_its_sent_from_line_and_the_quote():
    assert reply(mails.iphone("Да, беру!")).text == "Да, беру!"


def test_a_charset_python_does_not_know_is_read_as_windows_1251():
    raw = (
        b"From: anna@example.com\r\nMessage-ID: <x1@example.com>\r\n"
        b"Content-Type: text/plain; charset=x-user-defined-cyr\r\n\r\n"
        + "Перезвоните мне".encode("cp1251")
    )
    assert reply(raw).text == "Перезвоните мне"


def test_mislabelled_utf8_is_still_read():
    raw = (
        b"From: anna@example.com\r\nMessage-ID: <x2@example.com>\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + "Да, интересно".encode()
    )
    assert reply(raw).text == "Да, интересно"


def test_the_plain_part_is_preferred_and_attachments_are_not_the_reply():
    raw = b"\r\n".join([
        b"From: anna@example.com", b"Message-ID: <att@example.com>", b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="b1"', b"",
        b"--b1", b'Content-Type: multipart/alternative; boundary="b2"', b"",
        b"--b2", b"Content-Type: text/plain; charset=utf-8", b"",
        "Фото кухни во вложении".encode(), b"",
        b"--b2", b"Content-Type: text/html; charset=utf-8", b"",
        "<p>HTML: фото кухни во вложении</p>".encode(), b"", b"--b2--",
        b"--b1", b"Content-Type: text/plain; charset=utf-8",
        b'Content-Disposition: attachment; filename="sizes.txt"', b"",
        b"300 x 60 x 90", b"--b1--", b"",
    ])
    assert reply(raw).text == "Фото кухни во вложении"


def test_signature_and_original_message_separators_end_the_text():
    assert strip_history("Да.\n-- \nАнна\n+7 916 000-00-00") == "Да."
    assert strip_history(
        "Ок, жду.\n\n-----Original Message-----\nFrom: shop@kedr.example\nНовость"
    ) == "Ок, жду."
    assert strip_history(
        "Хорошо\n\n-------- Исходное сообщение --------\nТема: Новость"
    ) == "Хорошо"


def test_a_line_of_the_clients_own_text_that_ends_in_a_colon_is_kept():
    text = "Мои вопросы:\n1. Сроки?\n2. Доставка?"
    assert strip_history(text) == text


def test_html_blockquotes_become_quoted_lines():
    html = "<div>Да<br>Анна</div><blockquote><p>Ваше письмо</p></blockquote><p>P.S. Жду</p>"
    assert html_to_text(html) == "Да\nАнна\n> Ваше письмо\n>\nP.S. Жду"


# --- who and what it answers --------------------------------------------------------
def test_the_sender_is_the_from_address_in_lower_case():
    raw = mails.iphone("Да").replace(b"<anna@example.com>", b"<Anna.Ivanova@Example.COM>")
    assert reply(raw).sender == "anna.ivanova@example.com"


def test_our_message_is_found_in_references_when_in_reply_to_is_someone_elses():
    # Anna answers her husband's forward of our message; the thread still names ours.
    raw = mails.gmail("Да", in_reply_to="<CAH+husband@mail.gmail.com>",
                      references=f"<older@example.com> {OURS} <CAH+husband@mail.gmail.com>")
    assert reply(raw).in_reply_to == OURS


def test_a_message_id_of_another_domain_is_not_ours(settings):
    assert key_for_message_id("<t5-3@kasatka.local>") == "t5-3"
    assert key_for_message_id("<t5-3@KASATKA.local>") == "t5-3"
    assert key_for_message_id("<t5-3@mail.gmail.com>") == ""
    assert reply(mails.gmail("Да", in_reply_to="<t5-3@elsewhere.example>")).in_reply_to == ""


def test_a_message_without_message_id_gets_a_stable_id_of_its_own():
    raw = "From: anna@example.com\r\nSubject: Re\r\n\r\nДа\r\n".encode()
    first, again = reply(raw), reply(raw)
    assert first.provider_message_id.startswith("sha256:")
    assert first.provider_message_id == again.provider_message_id
    other = reply(raw.replace("Да".encode(), "Нет".encode()))
    assert other.provider_message_id != first.provider_message_id


# --- what is no reply -----------------------------------------------------------------
def test_a_bounce_is_no_reply():
    raw = mails.postfix_bounce()
    assert parse_reply(raw) is None
    assert why_not_a_reply(read_message(raw)) == BOUNCE


def test_a_mailer_daemon_message_without_a_report_is_a_bounce_too():
    raw = b"From: Mail Delivery Subsystem <MAILER-DAEMON@example.com>\r\n\r\nfailed\r\n"
    assert why_not_a_reply(read_message(raw)) == BOUNCE


@pytest.mark.parametrize("raw", [
    mails.exchange_out_of_office(), mails.vacation_by_subject(), mails.x_autoreply(),
    mails.iphone("Новости").replace(b"Mime-Version", b"Precedence: bulk\r\nMime-Version"),
    mails.iphone("Да").replace(b"Mime-Version", b"Return-Path: <>\r\nMime-Version"),
], ids=["exchange-oof", "vacation-subject", "x-autoreply", "precedence-bulk", "null-sender"])
def test_auto_replies_are_no_replies(raw):
    assert parse_reply(raw) is None
    assert why_not_a_reply(read_message(raw)) == AUTO_REPLY


def test_auto_submitted_no_is_a_person_writing():
    raw = mails.iphone("Да").replace(b"Mime-Version", b"Auto-Submitted: no\r\nMime-Version")
    assert reply(raw).text == "Да"


def test_outlooks_request_not_to_be_auto_answered_does_not_make_an_auto_reply():
    raw = mails.outlook("Да, жду звонка", extra_headers=("X-Auto-Response-Suppress: All",))
    assert reply(raw).text == "Да, жду звонка"


def test_a_read_receipt_is_no_reply():
    raw = mails.read_receipt()
    assert parse_reply(raw) is None
    assert why_not_a_reply(read_message(raw)) == RECEIPT


def test_a_copy_of_our_own_message_is_no_reply():
    raw = b"From: shop@kedr.example\r\nMessage-ID: <t5-3@kasatka.local>\r\n\r\nNews\r\n"
    assert why_not_a_reply(read_message(raw)) == OUR_OWN
