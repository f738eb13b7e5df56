"""The method's own chains of a business: lead conversion, nurture and win-back (METHOD.md §3).

`ensure_method_chains(business)` creates each of them once, the first time the method needs
it; from then on the chain is the business's own to edit, pause or replace with another of
the same kind (`method_chain` uses the oldest active chain of a kind).

The texts are Russian (the businesses Kasatka serves are): they suit a furniture showroom and
read well for most shops. Every touch has its reason (METHOD.md §2) and the lead-conversion
chain mixes modalities: plain text, a link to an audio message and a link to a video.
"""

# Touch texts are Russian prose, so Cyrillic letters in strings are meant.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from django.db import transaction

from kasatka.accounts.models import Business, MethodSettings, method_settings
from kasatka.chains.models import Chain, ChainKind, DelayFrom, Step
from kasatka.contacts.models import Channel

EMAIL, SMS, CALL, LETTER = Channel.EMAIL, Channel.SMS, Channel.CALL, Channel.LETTER
TELEGRAM, WHATSAPP, VIBER, VK = Channel.TELEGRAM, Channel.WHATSAPP, Channel.VIBER, Channel.VK

# A chain's content, not one of the method's figures: the business edits it freely.
NURTURE_INTERVAL: Final = timedelta(days=30)
WINBACK_INTERVAL: Final = timedelta(days=7)

METHOD_KINDS: Final = (
    ChainKind.LEAD_CONVERSION, ChainKind.NURTURE, ChainKind.WINBACK, ChainKind.NUDGE
)


@dataclass(frozen=True)
class TouchText:
    """One touch of a default chain: where it goes first, why, and what it says."""

    channels: tuple[str, ...]
    commercial: bool
    reason: str
    subject: str
    body: str


# Shared pieces of the texts.
_HELLO = "{{ contact.greeting }}!\n\n"
_SIGNATURE = (
    "\n\n{% if seller.full_name %}{{ seller.full_name }}, {% endif %}{{ business.name }}"
    "{% if seller.phone %}\n{{ seller.phone }}{% elif business.phone %}\n{{ business.phone }}"
    "{% endif %}"
)


def _link(path: str, missing: str) -> str:
    """A link on the business's site, or what to say when the business has no site."""
    return (
        "{% if business.website %}{{ business.website }}/" + path + "{% else %}" + missing
        + "{% endif %}"
    )


def _video(slug: str) -> str:
    return _link(f"video/{slug}", "ответьте на это сообщение, и мы пришлём видео")


def _audio(slug: str) -> str:
    return _link(f"audio/{slug}", "ответьте на это сообщение, и мы пришлём запись")


def _call_script(opening: str, goal: str, steps: str) -> str:
    return (
        "Позвоните {{ contact.name_in('dative') or 'клиенту' }}. Цель — " + goal + "\n\n"
        "1. «{% if contact.name %}{{ contact.name }}, д{% else %}Д{% endif %}обрый день! "
        "Это {{ seller.first_name or 'консультант' }}, {{ business.name }}. "
        "Удобно говорить пару минут?»\n"
        "2. Повод: «" + opening + "»\n" + steps
    )


# The lead-conversion chain's touches, in order; the question closes the window.
# When the settings ask for more touches than there are texts, the texts after the
# first (the thank-you) come round again.
LC_TOUCHES: Final[tuple[TouchText, ...]] = (
    TouchText(
        (EMAIL, TELEGRAM, WHATSAPP, SMS), False,
        "Обещали после визита прислать контакты консультанта и ответить на вопросы",
        "Спасибо, что заглянули в {{ business.name }}",
        _HELLO
        + "Спасибо, что заглянули к нам. Выбор мебели — дело небыстрое, и мы рядом, пока "
        "Вы его делаете: если после визита появились вопросы о размерах, сроках или "
        "доставке, просто ответьте на это сообщение."
        + _SIGNATURE,
    ),
    TouchText(
        (TELEGRAM, WHATSAPP, VIBER, EMAIL), False,
        "Записали двухминутное видео: как выбрать мебель под размеры комнаты",
        "Видео: как выбрать мебель под размеры комнаты",
        _HELLO
        + "Мы записали короткое видео — две минуты о том, как измерить комнату и не "
        "ошибиться с размером дивана, шкафа или кухни. Смотреть: " + _video("kak-vybrat")
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM), False,
        "Собрали памятку: семь вопросов, которые стоит задать себе до покупки",
        "Семь вопросов перед покупкой мебели",
        _HELLO
        + "Собрали короткую памятку, которую наши консультанты проговаривают с каждым "
        "клиентом:\n"
        "1. Кто и как будет пользоваться вещью каждый день?\n"
        "2. Какие размеры у проёма двери и лифта?\n"
        "3. Что стоит рядом: цвет пола, стен, другой мебели?\n"
        "4. Нужна ли ткань, которую легко чистить (дети, животные)?\n"
        "5. К какому сроку всё должно стоять на месте?\n"
        "6. Кто будет собирать и вывозить упаковку?\n"
        "7. Какой бюджет комфортен, с доставкой и сборкой?\n\n"
        "Ответы на них можно обсудить с нами — просто ответьте на письмо."
        + _SIGNATURE,
    ),
    TouchText(
        (CALL,), True,
        "Прошла неделя после визита: узнать, остались ли вопросы, и пригласить на примерку",
        "Звонок: вопросы после визита и приглашение на примерку",
        _call_script(
            "Вы были у нас неделю назад. Хотел(а) узнать, остались ли вопросы, и "
            "пригласить Вас посидеть на моделях и потрогать ткани — образцы уже в салоне.",
            "ответить на вопросы и договориться о визите на примерку.",
            "3. Если вопросы есть — ответьте или договоритесь, когда перезвонить.\n"
            "4. Предложите день и время визита; запишите договорённость в заметку.",
        ),
    ),
    TouchText(
        (TELEGRAM, WHATSAPP, VIBER, SMS, EMAIL), False,
        "Консультант записал аудиоответ на частые вопросы о сроках и доставке",
        "Аудио: сроки изготовления и доставка",
        _HELLO
        + "Чаще всего нас спрашивают о сроках и доставке. Наш консультант ответил на эти "
        "вопросы в коротком аудиосообщении — его удобно послушать в дороге: "
        + _audio("sroki-i-dostavka")
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM), False,
        "Показываем, как похожую задачу решили для другой семьи",
        "Как было и как стало: гостиная 18 м²",
        _HELLO
        + "На прошлой неделе мы закончили проект для семьи, у которой была похожая задача: "
        "в гостиной 18 м² уместить диван на пятерых, рабочее место и книжные полки.\n\n"
        "Что помогло: угловой диван со спальным местом, стеллаж до потолка вместо "
        "тумб и стол, который складывается в консоль. Фотографии «до» и «после» "
        "покажем в салоне или пришлём в ответ на это письмо."
        + _SIGNATURE,
    ),
    TouchText(
        (SMS, TELEGRAM, WHATSAPP, EMAIL), True,
        "Персональное предложение на две недели: бесплатная доставка и сборка",
        "Для Вас: доставка и сборка бесплатно",
        _HELLO
        + "Для Вас две недели действует персональное предложение: доставка и сборка "
        "любого заказа бесплатно. Чтобы им воспользоваться, назовите консультанту "
        "своё имя при заказе."
        + _SIGNATURE,
    ),
    TouchText(
        (TELEGRAM, WHATSAPP, VIBER, EMAIL), False,
        "Сняли видеоэкскурсию по салону: все модели и образцы тканей в одном ролике",
        "Видеоэкскурсия по салону",
        _HELLO
        + "Не всегда есть время заехать ещё раз, поэтому мы сняли видеоэкскурсию по салону: "
        "все модели, образцы тканей и отделок в одном ролике — " + _video("ekskursiya")
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, WHATSAPP), False,
        "Предлагаем подобрать три варианта под задачу клиента по трём ответам",
        "Подберём три варианта под Вашу задачу",
        _HELLO
        + "Если удобнее выбирать из готовых вариантов, ответьте на три вопроса — и мы "
        "пришлём три подходящих решения с ценами:\n"
        "1. Для какой комнаты и какого размера?\n"
        "2. К какому сроку?\n"
        "3. В какой бюджет хотелось бы уложиться?"
        + _SIGNATURE,
    ),
    TouchText(
        (CALL,), True,
        "Три недели после визита: уточнить сроки и бюджет и предложить подборку под них",
        "Звонок: сроки, бюджет и подборка",
        _call_script(
            "Мы подготовили для Вас подборку и хотим уточнить пару деталей, чтобы она "
            "попала точно в задачу.",
            "уточнить сроки и бюджет и предложить подборку; узнать, что мешает решению.",
            "3. Спросите о сроках и бюджете; предложите две-три модели.\n"
            "4. Напомните о бесплатной доставке и сборке.\n"
            "5. Если клиент сомневается — спросите, что мешает решить, и запишите ответ.",
        ),
    ),
    TouchText(
        (TELEGRAM, WHATSAPP, VIBER, EMAIL), False,
        "Аудиосообщение: как устроена гарантия и что делать, если что-то не так",
        "Аудио: как работает наша гарантия",
        _HELLO
        + "Покупка мебели — это надолго, поэтому рассказываем о гарантии честно: что она "
        "покрывает, сколько длится и как быстро мы приезжаем, если что-то не так. "
        "Послушайте наше аудиосообщение: " + _audio("garantiya")
        + _SIGNATURE,
    ),
    TouchText(
        (SMS, TELEGRAM, WHATSAPP, EMAIL), True,
        "Персональное предложение заканчивается через несколько дней",
        "Предложение заканчивается",
        _HELLO
        + "Напоминаем: через несколько дней заканчивается Ваше персональное предложение — "
        "бесплатные доставка и сборка. Если решение уже созрело, самое время."
        + _SIGNATURE,
    ),
)


def _question(window_days: int) -> TouchText:
    """The window's last touch: which of the three cases holds, answered in one click."""
    days = f"{window_days} {_plural(window_days, 'день', 'дня', 'дней')}"
    return TouchText(
        (EMAIL, TELEGRAM, WHATSAPP, VIBER, SMS), False,
        f"Прошло {days} после визита: спрашиваем одним кликом, как обстоят дела",
        "Один вопрос — один клик",
        _HELLO
        + f"Прошло {days} с Вашего визита в {{{{ business.name }}}}. Подскажите, "
        "пожалуйста, как обстоят дела, — так мы будем писать Вам только о том, что "
        "действительно нужно.\n"
        "{% if lead_answers.not_ripe %}Достаточно одного клика:\n"
        "• ещё выбираю, вернусь к вопросу позже: {{ lead_answers.not_ripe }}\n"
        "• уже {{ contact.gendered('купил', 'купила', 'купил(а)') }} в другом месте: "
        "{{ lead_answers.competitor }}\n"
        "• уже неактуально: {{ lead_answers.not_relevant }}\n"
        "{% else %}Достаточно ответить одним словом: «выбираю», «купил(а)» или "
        "«неактуально».\n"
        "{% endif %}\n"
        "Какой бы ни был ответ — спасибо, что были с нами все эти дни."
        + _SIGNATURE,
    )


NURTURE_TOUCHES: Final[tuple[TouchText, ...]] = (
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Сезонный совет: как ухаживать за мебелью из дерева и ткани",
        "Как продлить жизнь мебели: дерево и ткань",
        _HELLO
        + "Короткий совет сезона. Дерево не любит батареи и сухой воздух: держите мебель "
        "в полуметре от отопления, а влажность — около 50 %. Обивку пылесосьте раз в "
        "неделю мягкой насадкой, а пятна промакивайте, не трите."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Рассказываем о цветах и материалах, которые выбирают в этом сезоне",
        "Цвета и материалы сезона",
        _HELLO
        + "В этом сезоне чаще всего выбирают тёплые природные оттенки: оливковый, "
        "терракоту, песочный — и натуральные материалы: дуб под маслом, лён, букле. "
        "Такие вещи не надоедают и легко сочетаются с тем, что у Вас уже есть."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK, LETTER), False,
        "Пять приёмов, которые делают маленькую комнату просторнее",
        "Маленькая комната: пять приёмов",
        _HELLO
        + "Пять приёмов для небольшой комнаты: мебель на ножках, светлые фасады, "
        "стеллажи до потолка, зеркало напротив окна и один крупный предмет вместо "
        "нескольких мелких. Каждый из них визуально добавляет метры."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Объясняем разницу между массивом, шпоном и ЛДСП без рекламы",
        "Массив, шпон или ЛДСП: честное сравнение",
        _HELLO
        + "Массив служит десятилетиями и ремонтируется, шпон выглядит как дерево и "
        "стоит дешевле, ЛДСП практична там, где важна цена. Плохих материалов нет — "
        "есть неподходящие для задачи. Если сомневаетесь, спросите нас: ответим без "
        "навязывания."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Памятка: как подготовить квартиру к доставке и сборке мебели",
        "Как подготовиться к доставке мебели",
        _HELLO
        + "Чтобы доставка прошла за час, а не за день: измерьте дверные проёмы и лифт, "
        "освободите путь от двери до комнаты и предупредите соседей о шуме при сборке. "
        "Упаковку сборщики обычно забирают с собой — уточните это заранее."
        + _SIGNATURE,
    ),
    TouchText(
        (TELEGRAM, EMAIL, VK, LETTER), False,
        "Показываем на видео, как в мастерской делают мебель",
        "Видео: как делают мебель",
        _HELLO
        + "Мы сняли, как в мастерской рождается стол: от доски до масла. Пять минут, "
        "которые объясняют, почему хорошая мебель стоит своих денег: " + _video("masterskaya")
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Совет: как свет меняет восприятие мебели и комнаты",
        "Свет и мебель: как они дружат",
        _HELLO
        + "Один и тот же диван при тёплом и холодном свете — два разных дивана. "
        "Выбирая ткань, смотрите образец и днём, и вечером, а в комнате сочетайте "
        "верхний свет с торшером или бра — так она становится уютнее."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "История клиента: кухня, которая выдержала троих детей и кота",
        "Пять лет спустя: история одной кухни",
        _HELLO
        + "Пять лет назад мы сделали кухню для семьи с тремя детьми. Недавно они "
        "позвонили — не с жалобой, а чтобы заказать такой же стол на дачу. Рассказываем, "
        "какие решения оказались самыми живучими: фасады под масло, столешница из "
        "кварца и ручки без острых углов."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK, LETTER), False,
        "Отвечаем на частые вопросы о гарантии и возврате",
        "Гарантия и возврат: коротко и честно",
        _HELLO
        + "Частые вопросы: на корпус мы даём гарантию пять лет, на механизмы — два года; "
        "если что-то не так, мастер приезжает в течение недели. Вернуть мебель "
        "надлежащего качества можно, если она изготовлена не по индивидуальным размерам."
        + _SIGNATURE,
    ),
    TouchText(
        (TELEGRAM, EMAIL, VK), False,
        "Дизайнер записал аудиоподкаст о том, с чего начинать обустройство комнаты",
        "Аудио: с чего начать обустройство комнаты",
        _HELLO
        + "Наш дизайнер записал короткий аудиоподкаст: с чего начинать обустройство "
        "комнаты и в каком порядке покупать мебель, чтобы не переделывать. Послушать: "
        + _audio("s-chego-nachat")
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK), False,
        "Сезонная подборка идей для дома от наших дизайнеров",
        "Идеи для дома на новый сезон",
        _HELLO
        + "Собрали идеи, которые легко повторить без большого ремонта: сменить чехлы "
        "на подушках, переставить стеллаж, добавить плед и ковёр другой фактуры. "
        "Иногда этого достаточно, чтобы комната ожила."
        + _SIGNATURE,
    ),
    TouchText(
        (EMAIL, TELEGRAM, VK, LETTER), False,
        "Год писем: благодарим и напоминаем, что мы рядом, когда задача созреет",
        "Спасибо, что читали нас этот год",
        _HELLO
        + "Весь этот год мы присылали Вам советы и новости — спасибо, что читали. Когда "
        "задача с мебелью созреет, просто ответьте на это письмо или позвоните нам: "
        "вспомним, что Вы смотрели, и подберём варианты."
        + _SIGNATURE,
    ),
)


WINBACK_TOUCHES: Final[tuple[TouchText, ...]] = (
    TouchText(
        (EMAIL, TELEGRAM, WHATSAPP, SMS, LETTER), True,
        "Давно не виделись: рассказываем, что изменилось, и дарим скидку на возвращение",
        "Давно не виделись — у нас для Вас подарок",
        _HELLO
        + "Давно не виделись! За это время у нас многое изменилось: новые коллекции, "
        "доставка по выходным и бесплатная сборка. Чтобы было повод заглянуть, дарим "
        "Вам скидку 10 % на любой заказ в течение месяца — назовите консультанту своё имя."
        + _SIGNATURE,
    ),
    TouchText(
        (CALL,), True,
        "Неделя после письма со скидкой: узнать, как дела, и пригласить в салон",
        "Звонок: как дела и приглашение в салон",
        _call_script(
            "Давно Вас не видели — хотим узнать, как служит мебель и чем можем быть "
            "полезны. И напомнить о скидке 10 % для Вас до конца месяца.",
            "узнать, как у клиента дела и что изменилось, и пригласить в салон.",
            "3. Спросите, всё ли было хорошо в прошлый раз; если нет — выслушайте и "
            "запишите.\n"
            "4. Пригласите в салон и напомните о скидке.",
        ),
    ),
    TouchText(
        (SMS, TELEGRAM, WHATSAPP, EMAIL), True,
        "Скидка на возвращение действует ещё неделю",
        "Ваша скидка действует ещё неделю",
        _HELLO
        + "Напоминаем: Ваша скидка 10 % на любой заказ действует ещё неделю. Будем рады "
        "видеть Вас снова."
        + _SIGNATURE,
    ),
)


def _plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian plural form for n (1 день, 2 дня, 5 дней)."""
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def lead_conversion_days(window_days: int, touches_per_week: int) -> list[int]:
    """The days after enrolment on which the lead-conversion touches fall.

    Evenly spread at `touches_per_week` (7 / 3 gives 0, 2, 4, 7, 9, 11, 14 …), so every
    seven days of the window hold that many touches, and all fall inside the window.
    """
    per_week = max(touches_per_week, 1)
    window = max(window_days, 1)
    days: list[int] = []
    i = 0
    while (day := i * 7 // per_week) < window:
        days.append(day)
        i += 1
    return days


def lead_conversion_touches(window_days: int, touches_per_week: int) -> list[tuple[int, TouchText]]:
    """The chain's touches with their day: the texts in order, the question last."""
    days = lead_conversion_days(window_days, touches_per_week)
    texts: list[TouchText] = []
    for slot in range(len(days) - 1):
        # After a full round the thank-you for the visit would make no sense.
        index = slot if slot < len(LC_TOUCHES) else 1 + (slot - 1) % (len(LC_TOUCHES) - 1)
        texts.append(LC_TOUCHES[index])
    texts.append(_question(window_days))
    return list(zip(days, texts, strict=True))


def _create_chain(
    business: Business,
    kind: str,
    name: str,
    touches: Sequence[tuple[timedelta, str, TouchText]],
) -> Chain:
    chain = Chain.objects.create(business=business, name=name, kind=kind, exit_on_purchase=True)
    for position, (delay, delay_from, text) in enumerate(touches, start=1):
        Step.objects.create(
            chain=chain,
            position=position,
            delay=delay,
            delay_from=delay_from,
            channels=list(text.channels),
            is_commercial=text.commercial,
            reason=text.reason,
            subject_template=text.subject,
            body_template=text.body,
        )
    return chain


def _lead_conversion_chain(business: Business, settings: MethodSettings) -> Chain:
    window, per_week = settings.lc_window_days, settings.lc_touches_per_week
    name = (
        f"Конверсия лида: {window} {_plural(window, 'день', 'дня', 'дней')}, "
        f"{per_week} {_plural(per_week, 'касание', 'касания', 'касаний')} в неделю"
    )
    # Counted from the enrolment, so that a held call or a retried touch does not
    # push the rest of the window out of it.
    touches = [
        (timedelta(days=day), DelayFrom.ENROLLMENT, text)
        for day, text in lead_conversion_touches(window, per_week)
    ]
    return _create_chain(business, ChainKind.LEAD_CONVERSION, name, touches)


def _nurture_chain(business: Business, settings: MethodSettings) -> Chain:
    # The first touch a month after the answer too: "not yet" deserves a pause.
    touches = [(NURTURE_INTERVAL, DelayFrom.PREVIOUS, text) for text in NURTURE_TOUCHES]
    return _create_chain(business, ChainKind.NURTURE, "Долгий прогрев: раз в месяц", touches)


def _winback_chain(business: Business, settings: MethodSettings) -> Chain:
    # The first touch at once: a lapsing client is written to now, and a competitor's buyer
    # is enrolled with the first touch moved by `winback_delay_days` (sales.conversion).
    touches = [
        (timedelta(0) if i == 0 else WINBACK_INTERVAL, DelayFrom.PREVIOUS, text)
        for i, text in enumerate(WINBACK_TOUCHES)
    ]
    return _create_chain(business, ChainKind.WINBACK, "Возвращение клиента", touches)


# A nudge («буравчик», METHOD.md §5) goes where the client answers fastest; its text is the
# one the seller saw and threw (kasatka.deals), and the buttons make the answer one tap.
NUDGE_TOUCH: Final = TouchText(
    channels=(TELEGRAM, WHATSAPP, VIBER, VK, SMS, EMAIL),
    commercial=False,
    reason="Сделка ждёт решения клиента: короткий вопрос с ответом «да» или «нет»",
    subject="{{ deal.title }}",
    body="{{ nudge_text }}",
)
NUDGE_BUTTONS: Final = [{"text": "Да", "reply": "Да"}, {"text": "Нет", "reply": "Нет"}]


def _nudge_chain(business: Business, settings: MethodSettings) -> Chain:
    chain = _create_chain(
        business, ChainKind.NUDGE, "Буравчики: вопрос по сделке",
        [(timedelta(0), DelayFrom.PREVIOUS, NUDGE_TOUCH)],
    )
    Chain.objects.filter(pk=chain.pk).update(exit_on_purchase=False)
    Step.objects.filter(chain=chain).update(options={"buttons": NUDGE_BUTTONS})
    return chain


_BUILDERS: Final = {
    ChainKind.LEAD_CONVERSION: _lead_conversion_chain,
    ChainKind.NURTURE: _nurture_chain,
    ChainKind.WINBACK: _winback_chain,
    ChainKind.NUDGE: _nudge_chain,
}


def ensure_method_chains(business: Business | int) -> dict[str, Chain]:
    """Create the lead-conversion, nurture and win-back chains the business lacks.

    A kind the business already has a chain of (active or paused) is left alone: once made,
    the chain is the business's to edit. Returns the chain of each kind `method_chain` uses.
    """
    business_id = business if isinstance(business, int) else business.pk
    with transaction.atomic():
        # Locks the business, so two workers ending windows at once make one set of chains.
        tenant = Business.objects.select_for_update().get(pk=business_id)
        have = set(
            Chain.objects.filter(business=tenant, kind__in=METHOD_KINDS).values_list(
                "kind", flat=True
            )
        )
        missing = [kind for kind in METHOD_KINDS if kind not in have]
        if missing:
            settings = method_settings(tenant)
            for kind in missing:
                _BUILDERS[kind](tenant, settings)
    chains: dict[str, Chain] = {}
    for kind in METHOD_KINDS:
        chain = _first_active(business_id, kind)
        if chain is not None:
            chains[kind] = chain
    return chains


def _first_active(business_id: int, kind: str) -> Chain | None:
    return (
        Chain.objects.filter(business_id=business_id, kind=kind, is_active=True)
        .order_by("id")
        .first()
    )


def method_chain(business_id: int, kind: str) -> Chain | None:
    """The business's chain of a method kind, made with the defaults if it has none.

    None when the business has paused every chain of that kind: it chose not to send them.
    """
    chain = _first_active(business_id, kind)
    if chain is not None:
        return chain
    if Chain.objects.filter(business_id=business_id, kind=kind).exists():
        return None
    return ensure_method_chains(business_id).get(kind)
