"""The demo business: a furniture workshop with its history, old clients and live touches."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

import phonenumbers
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _
from faker import Faker

from kasatka.accounts.models import Business, Role, User, method_settings
from kasatka.chains.models import (
    Chain,
    ChainKind,
    Enrollment,
    EnrollmentState,
    Step,
    Touch,
)
from kasatka.channels.base import Outcome, Result
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.channels.letter.models import Letter, LetterStatus
from kasatka.channels.registry import get_channel
from kasatka.contacts import lifecycle
from kasatka.contacts.actions import ConsentGrant, create_contact, record_consent
from kasatka.contacts.lifecycle import STAGE_RANK, PurchaseFact, record_referral
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Channel,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Gender,
    Purpose,
    StageChange,
)
from kasatka.deals.demo import DealsReplay
from kasatka.deals.models import Deal
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.engine.clock import ManualClock
from kasatka.engine.clock import now as clock_now
from kasatka.engine.worker import EngineConfig, Plan, Worker
from kasatka.insights.lapse import due_lapses, flag_lapse, refresh_business
from kasatka.sales.actions import record_purchase, record_visit
from kasatka.sales.default_chains import ensure_method_chains
from kasatka.sales.models import (
    LeadSource,
    LeadSourceCost,
    LossKind,
    LossReason,
    Purchase,
    Referral,
    Visit,
    VisitType,
)

DEMO_SLUG: Final = "kedr-demo"
DEMO_NAME: Final = "Мебельная мастерская «Кедр»"
DEMO_OWNER: Final = "owner"
DEMO_PASSWORD: Final = "kasatka-demo"

# Visits and purchases reach this far back.
HISTORY_DAYS: Final = 120
# Only visits this recent go through the real actions and enrol contacts in chains.
# The warming chain lasts 30 days, so a window a little longer than that shows
# chains that ran to their end next to chains in progress; older history is
# plain visits and purchases, with no month-old touches to catch up on.
ENROL_DAYS: Final = 45
# The past of the enrolled contacts is replayed through the engine up to this
# long before `now`: what fell due after that is left for the real worker, so
# the demo starts with a handful of touches to send, not a flood.
LIVE_LAG: Final = timedelta(hours=24)
# Opening hours of the showroom, local time: visits happen then.
OPEN_HOUR: Final = 10
CLOSE_HOUR: Final = 21
# When the replayed engine sends what is due (local hours).
REPLAY_HOURS: Final = (11, 17)

# The shares of first visits by type (METHOD.md §1): 35 % / 10 % / 45 % / 10 %.
# Types 2 and 4 leave no contact, so they are drawn on top of the contacts.
SHARE_BOUGHT: Final = 35 / 80
REFUSED_PER_CONTACT: Final = 10 / 80

# A furniture client lapses after 18 months without a purchase (the method's figure).
LAPSE_PERIOD_DAYS: Final = 540
# The workshop's clients from before Kasatka, imported from its books with their purchases
# (no visits): this share of the contacts. Each bought two to four times, the last time
# about one lapse period ago, so that some lapsed before Kasatka was switched on, some
# lapsed since and some are about to: the win-back has work, and a history.
OLD_CLIENTS_SHARE: Final = 0.1
# How far around one lapse period before `now` their last purchase falls (days).
OLD_LAST_PURCHASE: Final = (-60, 120)
# Of the old clients, this share still buys every few months: the workshop's regulars.
OLD_STILL_BUYING: Final = 0.35
# Interior designers order for their clients every few weeks: this share of the showroom's
# buyers. With the regulars still buying they make the clients' rhythms differ, as in
# life, which the churn model (BG/NBD) needs to learn from.
DESIGNERS: Final = 0.1
# Of the old clients the win-back reached, this share came back and bought.
WINBACK_RETURN: Final = 0.3
# The replay looks for lapsed clients this often (the real worker does it all day long;
# each look refits the churn model, half a second, so the replay looks every two weeks).
LAPSE_CHECK: Final = timedelta(days=14)
# A word-of-mouth visitor named the client who sent them this often: a referral.
REFERRED_SHARE: Final = 0.25


class DemoError(Exception):
    """The demo cannot be built as asked."""


class DemoExists(DemoError):
    """The demo business is already there; rebuilding it needs replace=True."""


@dataclass(frozen=True)
class DemoResult:
    business: Business
    owner_username: str
    password: str
    contacts: int
    visits_by_type: dict[int, int]
    purchases: int
    enrollments: int
    active_enrollments: int
    touches: int
    call_tasks: int
    deals: int = 0

    @property
    def visits(self) -> int:
        return sum(self.visits_by_type.values())


def _flag(value: bool) -> str:
    """A side type's value as a `StageChange` records it."""
    return "true" if value else "false"


def demo_exists() -> bool:
    return Business.objects.filter(slug=DEMO_SLUG).exists()


def build_demo(
    *,
    contacts: int = 500,
    seed: int = 2026,
    now: datetime | None = None,
    replace: bool = False,
) -> DemoResult:
    """Create the demo business; the same seed and `now` give the same data.

    Raises DemoExists if it is already there, unless `replace`, which deletes it first.
    """
    if contacts < 0:
        raise ValueError("contacts must not be negative")
    with transaction.atomic():
        existing = Business.objects.filter(slug=DEMO_SLUG)
        if existing.exists():
            if not replace:
                raise DemoExists(
                    _(
                        "The demo business “%(name)s” already exists; "
                        "rebuild it with replace=True (kasatka demo --replace)."
                    )
                    % {"name": DEMO_NAME}
                )
            # Touch.step and Enrollment.step are PROTECT, so a business whose chains
            # have sent anything cannot be deleted in one cascade: its enrollments
            # (and with them the touches and call tasks) go first; so do the visits, whose
            # loss reasons are PROTECT too.
            Enrollment.objects.filter(business__slug=DEMO_SLUG).delete()
            Visit.objects.filter(business__slug=DEMO_SLUG).delete()
            existing.delete()
        taken = sorted(
            User.objects.filter(username__in=[s.username for s in STAFF]).values_list(
                "username", flat=True
            )
        )
        if taken:
            raise DemoError(
                _("Cannot build the demo: user names already taken by others: %(names)s")
                % {"names": ", ".join(taken)}
            )
        return _Builder(contacts, seed, now or clock_now()).build()


# --- the people of the workshop -----------------------------------------------


@dataclass(frozen=True)
class _Staff:
    username: str
    role: str
    first_name: str
    patronymic: str
    last_name: str
    phone: str
    # Share of the showroom's visitors this seller serves, and of those who
    # leave without giving contacts (a weaker seller loses more of them).
    serves: int = 0
    loses: int = 0
    # Of the visits this seller lost, the % lost by the seller's own error.
    errors: int = 0


STAFF: Final[tuple[_Staff, ...]] = (
    _Staff("owner", Role.OWNER, "Андрей", "Викторович", "Соколов", "+7 916 201-10-01"),
    _Staff("elena", Role.HEAD_OF_SALES, "Елена", "Павловна", "Миронова", "+7 916 201-10-02"),
    _Staff("marina", Role.SELLER, "Марина", "Игоревна", "Белова", "+7 916 201-10-03", 45, 20,
           15),
    _Staff("dmitry", Role.SELLER, "Дмитрий", "Олегович", "Крылов", "+7 916 201-10-04", 35, 35,
           30),
    _Staff("svetlana", Role.SELLER, "Светлана", "Николаевна", "Орлова", "+7 916 201-10-05",
           20, 45, 45),
    _Staff("ksenia", Role.MARKETER, "Ксения", "Андреевна", "Лебедева", "+7 916 201-10-06"),
)


@dataclass(frozen=True)
class _Source:
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    weight: int
    # What the source costs a month (a range, roubles), or once for the whole season its
    # visitors came in; word of mouth costs nothing.
    monthly: tuple[int, int] | None = None
    once: int = 0


SOURCES: Final[tuple[_Source, ...]] = (
    _Source("Яндекс.Директ", "Контекстная реклама", "yandex", "cpc", "kedr-mebel", 30,
            monthly=(40_000, 60_000)),
    _Source("Instagram", "Социальные сети", "instagram", "social", "kedr-reels", 15,
            monthly=(15_000, 25_000)),
    _Source("Сарафанное радио", "Рекомендации", "", "", "", 25),
    # The fair's stand and catalogues, paid once.
    _Source("Выставка «Мебель-2026»", "Выставки", "expo", "offline", "mebel-2026", 10,
            once=180_000),
    _Source("Авито", "Доски объявлений", "avito", "classified", "kedr-avito", 20,
            monthly=(5_000, 10_000)),
)
WORD_OF_MOUTH: Final = "Сарафанное радио"

# What the showroom sells, with the price range of each (roubles).
PRODUCTS: Final[tuple[tuple[str, int, int], ...]] = (
    ("Кухонный гарнитур на заказ", 120_000, 350_000),
    ("Шкаф-купе", 45_000, 140_000),
    ("Диван «Милан»", 48_000, 120_000),
    ("Угловой диван «Верона»", 65_000, 160_000),
    ("Кровать из массива сосны", 35_000, 90_000),
    ("Кровать из массива дуба «Тайга»", 70_000, 180_000),
    ("Обеденная группа: стол и четыре стула", 38_000, 110_000),
    ("Комод из массива", 18_000, 45_000),
    ("Прихожая на заказ", 40_000, 130_000),
    ("Детская: кровать-чердак и письменный стол", 55_000, 150_000),
    ("Книжный стеллаж", 15_000, 38_000),
    ("Гардеробная на заказ", 90_000, 300_000),
)

COMMON_MALE_NAMES: Final = (
    "Александр", "Алексей", "Андрей", "Антон", "Артём", "Борис", "Вадим", "Василий",
    "Виктор", "Виталий", "Владимир", "Владислав", "Вячеслав", "Геннадий", "Георгий",
    "Григорий", "Денис", "Дмитрий", "Евгений", "Егор", "Иван", "Игорь", "Илья", "Кирилл",
    "Константин", "Леонид", "Максим", "Михаил", "Никита", "Николай", "Олег", "Павел",
    "Пётр", "Роман", "Руслан", "Сергей", "Станислав", "Степан", "Тимофей", "Фёдор",
    "Юрий", "Ярослав",
)
COMMON_FEMALE_NAMES: Final = (
    "Александра", "Алина", "Алла", "Анастасия", "Анна", "Валентина", "Валерия", "Вера",
    "Вероника", "Виктория", "Галина", "Дарья", "Евгения", "Екатерина", "Елена",
    "Елизавета", "Жанна", "Ирина", "Кристина", "Ксения", "Лариса", "Любовь", "Людмила",
    "Маргарита", "Марина", "Мария", "Надежда", "Наталья", "Нина", "Оксана", "Ольга",
    "Полина", "Светлана", "Софья", "Тамара", "Татьяна", "Ульяна", "Юлия", "Яна",
)
# (male, female) forms.
COMMON_PATRONYMICS: Final = (
    ("Александрович", "Александровна"), ("Алексеевич", "Алексеевна"),
    ("Анатольевич", "Анатольевна"), ("Андреевич", "Андреевна"), ("Борисович", "Борисовна"),
    ("Валерьевич", "Валерьевна"), ("Васильевич", "Васильевна"), ("Викторович", "Викторовна"),
    ("Витальевич", "Витальевна"), ("Владимирович", "Владимировна"),
    ("Вячеславович", "Вячеславовна"), ("Геннадьевич", "Геннадьевна"),
    ("Георгиевич", "Георгиевна"), ("Григорьевич", "Григорьевна"),
    ("Дмитриевич", "Дмитриевна"), ("Евгеньевич", "Евгеньевна"), ("Иванович", "Ивановна"),
    ("Игоревич", "Игоревна"), ("Ильич", "Ильинична"), ("Константинович", "Константиновна"),
    ("Леонидович", "Леонидовна"), ("Максимович", "Максимовна"),
    ("Михайлович", "Михайловна"), ("Николаевич", "Николаевна"), ("Олегович", "Олеговна"),
    ("Павлович", "Павловна"), ("Петрович", "Петровна"), ("Романович", "Романовна"),
    ("Сергеевич", "Сергеевна"), ("Степанович", "Степановна"), ("Фёдорович", "Фёдоровна"),
    ("Юрьевич", "Юрьевна"),
)

# Why a visitor left without buying, the workshop's own list: objective reasons and the
# seller's own errors (a seller loses `_Staff.errors` % of the lost visits by an error).
LOSS_REASONS: Final[tuple[tuple[str, str], ...]] = (
    ("Дорого, разница в цене с конкурентом", LossKind.OBJECTIVE),
    ("Отказали в рассрочке", LossKind.OBJECTIVE),
    ("Зашёл посмотреть, покупать не собирался", LossKind.OBJECTIVE),
    ("Ждёт окончания ремонта", LossKind.OBJECTIVE),
    ("Советуется с семьёй", LossKind.OBJECTIVE),
    ("Продавец был слишком настойчив", LossKind.NON_OBJECTIVE),
    ("Продавец не предложил замер и образцы", LossKind.NON_OBJECTIVE),
    ("Не нашли нужный цвет обивки в каталоге", LossKind.NON_OBJECTIVE),
    ("Продавец не знал сроков изготовления", LossKind.NON_OBJECTIVE),
)

CALL_NOTES: Final[dict[str, tuple[str, ...]]] = {
    CallOutcome.REACHED: (
        "Поговорили, ждёт замерщика в субботу",
        "Выбирает между нами и фабрикой, прислать образцы тканей",
        "Всё хорошо, мебель собрали, довольны",
        "Ремонт затянулся, вернуться через месяц",
        "Попросили прислать фото коллекции в мессенджер",
        "Ещё думает, бюджет пока не согласован",
    ),
    CallOutcome.NO_ANSWER: ("Не взяли трубку", "Абонент недоступен"),
    CallOutcome.CALL_BACK: ("Просили перезвонить после обеда", "Были за рулём, перезвонить"),
    CallOutcome.REFUSED: ("Вопрос неактуален, просили не звонить",),
}

_TRANSLIT: Final = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya",
    }
)
# RFC 2606 reserves the .example top-level domain: demo mail can never reach a real person,
# even if someone points the demo at a real mail server.
MAIL_DOMAINS: Final = ("yandex.example", "mail.example", "gmail.example", "rambler.example")


# --- the chains ----------------------------------------------------------------


@dataclass(frozen=True)
class _StepSpec:
    days: int
    channels: tuple[str, ...]
    commercial: bool
    reason: str
    subject: str
    body: str


_SIGNATURE: Final = "{{ seller.full_name }}\n{{ business.name }}, {{ business.phone }}\n"

WARMING_NAME: Final = "Прогрев после визита"
WARMING: Final[tuple[_StepSpec, ...]] = (
    _StepSpec(
        0, ("email", "call"), True,
        "Обещали после визита прислать подборку моделей с размерами и ценами",
        "Подборка мебели после Вашего визита",
        "{{ contact.greeting }}!\n\n"
        "Спасибо, что заглянули в нашу мастерскую. Как и обещали, мы собрали для Вас "
        "подборку моделей, которые Вы смотрели, — с размерами, вариантами обивки и ценами. "
        "Она ждёт Вас на сайте: {{ business.website }}\n\n"
        "Если захотите потрогать ткани и образцы массива, приезжайте — мы работаем каждый "
        "день с 10 до 21: {{ business.address }}.\n\n"
        "С уважением,\n" + _SIGNATURE,
    ),
    _StepSpec(
        2, ("call",), True,
        "У дизайнера появились свободные окна для бесплатного выезда на замер",
        "Звонок: бесплатный замер и консультация дизайнера",
        "Позвоните {{ contact.name_in('dative') }}. Цель — договориться о бесплатном "
        "выезде дизайнера на замер.\n\n"
        "1. «{{ contact.name }}, добрый день! Это {{ seller.first_name }}, "
        "{{ business.name }}. Вы были у нас в салоне на днях — удобно говорить пару минут?»\n"
        "2. Повод: «У нашего дизайнера освободилось несколько окон на этой неделе. Она "
        "бесплатно приедет, снимет размеры и прямо на месте покажет, как мебель встанет "
        "в Вашу комнату».\n"
        "3. Вопрос с выбором: «Вам удобнее в будний день вечером или в субботу?»\n"
        "4. «Нет» или «пока рано» — тоже ответ: спросите, когда вернуться к разговору, "
        "и запишите дату в заметке.\n",
    ),
    _StepSpec(
        3, ("email",), False,
        "Закончили проект гостиной для семьи из Химок — показываем, как было и как стало",
        "Гостиная 18 м²: как было и как стало",
        "{{ contact.greeting }}!\n\n"
        "На прошлой неделе мы закончили проект для семьи Соколовых из Химок. Задача была "
        "непростая: в гостиной 18 м² нужно было уместить диван на пятерых, рабочее место "
        "и домашнюю библиотеку.\n\n"
        "Что мы сделали:\n"
        "— угловой диван «Верона» с ящиком для белья вместо громоздкой «книжки»;\n"
        "— стеллаж до потолка из массива сосны: в него вошли 400 книг и рабочий стол;\n"
        "— светлые фасады, чтобы комната не казалась тесной.\n\n"
        "От замера до сборки прошло 24 дня. Фотографии «до» и «после» — на нашем сайте: "
        "{{ business.website }}\n\n"
        "Если у Вас похожая задача, расскажите о ней — подскажем, что можно сделать.\n\n"
        + _SIGNATURE,
    ),
    # The method's paper for the 50+: older clients with a postal address get this one
    # as a printed letter (the print queue), everyone else by e-mail.
    _StepSpec(
        4, ("email", "letter"), True,
        "В салон привезли новую коллекцию «Тайга» из массива дуба",
        "Новая коллекция «Тайга»: дуб, масло, ручная работа",
        "{{ contact.greeting }}!\n\n"
        "В салон приехала новая коллекция «Тайга»: кровати, комоды и обеденные столы "
        "из массива дуба под натуральным маслом. Каждую вещь собирают вручную в нашей "
        "мастерской, поэтому размеры можно подогнать под Вашу комнату.\n\n"
        "До конца месяца на всю коллекцию действует цена открытия — на 10 % ниже "
        "каталожной.\n\n"
        "Посмотреть коллекцию можно на сайте {{ business.website }} или вживую в салоне: "
        "{{ business.address }}.\n\n" + _SIGNATURE,
    ),
    _StepSpec(
        5, ("email", "call"), False,
        "Изменился график доставки: теперь привозим и собираем и по выходным",
        "Теперь доставляем мебель и по выходным",
        "{{ contact.greeting }}!\n\n"
        "Короткая новость: с этого месяца мы доставляем и собираем мебель не только "
        "в будни, но и в субботу и воскресенье. Больше не нужно отпрашиваться с работы, "
        "чтобы встретить сборщиков.\n\n"
        "Сборка по-прежнему бесплатная при любом заказе, а время доставки мы согласуем "
        "с Вами заранее с точностью до двух часов.\n\n"
        "Если есть вопросы по срокам — звоните: {{ business.phone }}.\n\n" + _SIGNATURE,
    ),
    _StepSpec(
        7, ("email",), True,
        "Подарок к заказу до конца месяца: льняные чехлы для подушек ручной работы",
        "Подарок к заказу — до конца месяца",
        "{{ contact.greeting }}!\n\n"
        "Вам как {{ contact.gendered('нашему гостю', 'нашей гостье') }} мы приготовили "
        "подарок: к любому заказу от 30 000 ₽ — комплект льняных чехлов для подушек "
        "ручной работы. Цвет выберете сами из восьми вариантов.\n\n"
        "Предложение действует до конца месяца. Чтобы им воспользоваться, достаточно "
        "назвать при заказе своё имя или ответить на это письмо.\n\n"
        "Будем рады видеть Вас снова!\n\n" + _SIGNATURE,
    ),
    _StepSpec(
        9, ("call",), False,
        "Прошёл месяц после визита: узнаём, актуален ли ещё вопрос, чтобы не беспокоить зря",
        "Звонок: актуален ли ещё выбор мебели",
        "Позвоните {{ contact.name_in('dative') }}: прошёл месяц после визита, пора узнать, "
        "чем закончился выбор.\n\n"
        "1. «{{ contact.name }}, добрый день! Это {{ seller.first_name }}, "
        "{{ business.name }}. Вы заходили к нам месяц назад — подскажите, вопрос с мебелью "
        "ещё актуален?»\n"
        "2. Запишите в заметке, какой из ответов прозвучал:\n"
        "   — «ещё выбираю»: {{ contact.gendered('клиент не созрел', 'клиентка не созрела') }} "
        "— предложите прислать образцы тканей и переведите в долгий прогрев;\n"
        "   — «{{ contact.gendered('купил', 'купила') }} в другом месте»: спросите, что решило "
        "дело, и поблагодарите — через полгода предложим что-нибудь к новой мебели;\n"
        "   — «уже неактуально»: поблагодарите и больше не беспокойте.\n"
        "3. Любой ответ хорош: он даёт ясность.\n",
    ),
)

LOYALTY_NAME: Final = "Забота после покупки"
LOYALTY: Final[tuple[_StepSpec, ...]] = (
    _StepSpec(
        0, ("email",), False,
        "Покупка совершена: памятка по уходу за массивом и обивкой",
        "Спасибо за покупку! Как ухаживать за новой мебелью",
        "{{ contact.greeting }}!\n\n"
        "Спасибо, что выбрали нашу мастерскую. Теперь Вы — "
        "{{ contact.gendered('полноправный хозяин', 'полноправная хозяйка') }} мебели, "
        "сделанной руками наших мастеров, и нам хочется, чтобы она служила долго.\n\n"
        "Несколько простых правил:\n"
        "— массив любит влажность 40–60 %: зимой, когда работают батареи, включайте "
        "увлажнитель;\n"
        "— первые две недели не ставьте мебель вплотную к радиатору;\n"
        "— протирайте поверхности сухой мягкой тканью, а раз в полгода обновляйте масло "
        "(баночку мы положили в комплект);\n"
        "— пятна с обивки убирайте влажной губкой, без спирта и растворителей.\n\n"
        "Если что-то пойдёт не так — звоните: {{ business.phone }}. Гарантия на нашу "
        "мебель — три года.\n\n" + _SIGNATURE,
    ),
    _StepSpec(
        3, ("call",), False,
        "Прошли доставка и сборка: проверяем, всё ли в порядке",
        "Звонок: как прошли доставка и сборка",
        "Позвоните {{ contact.name_in('dative') }} и узнайте, как прошли доставка "
        "и сборка.\n\n"
        "1. «{{ contact.name }}, здравствуйте! Это {{ seller.first_name }}, "
        "{{ business.name }}. Звоню узнать, всё ли в порядке с мебелью: как доставили, "
        "как собрали?»\n"
        "2. Если есть замечания (скол, перекошенный фасад, не хватает фурнитуры) — "
        "запишите подробно и пообещайте, что мастер перезвонит сегодня же.\n"
        "3. Если всё хорошо — поблагодарите и предупредите, что через неделю пришлём "
        "короткую просьбу об отзыве.\n",
    ),
    _StepSpec(
        7, ("email",), False,
        "Мебель стоит уже неделю, первое впечатление сложилось: просим отзыв",
        "Как Вам новая мебель?",
        "{{ contact.greeting }}!\n\n"
        "Прошло немного времени с тех пор, как новая мебель появилась у Вас дома, и нам "
        "очень важно знать, как она прижилась.\n\n"
        "Расскажите, пожалуйста, в двух-трёх предложениях: что понравилось, а что мы "
        "могли бы сделать лучше? Просто ответьте на это письмо — его прочитает владелец "
        "мастерской.\n\n"
        "А если всё понравилось, будем благодарны за отзыв на Яндекс Картах: так нас "
        "быстрее найдут люди, которым тоже нужна хорошая мебель.\n\n"
        "Спасибо!\n" + _SIGNATURE,
    ),
    _StepSpec(
        20, ("email", "call"), True,
        "Запустили программу «Приведи друга»: скидка 7 % и Вам, и другу",
        "Скидка 7 % — Вам и Вашим друзьям",
        "{{ contact.greeting }}!\n\n"
        "Многие наши клиенты приходят по совету друзей, и мы решили сказать за это "
        "спасибо.\n\n"
        "Если кто-то из Ваших знакомых закажет у нас мебель и назовёт Ваше имя, он получит "
        "скидку 7 % на первый заказ, а Вы — 7 % на следующую покупку. Скидки "
        "складываются: три друга — 21 %.\n\n"
        "Ничего заполнять не нужно: другу достаточно сказать в салоне или по телефону "
        "{{ business.phone }}, от кого он пришёл.\n\n" + _SIGNATURE,
    ),
    _StepSpec(
        60, ("email",), False,
        "Три месяца после покупки: бесплатная регулировка фасадов и фурнитуры по гарантии",
        "Бесплатная регулировка мебели через три месяца",
        "{{ contact.greeting }}!\n\n"
        "За первые месяцы дерево «садится»: фасады могут немного сместиться, а петли "
        "и направляющие — ослабнуть. Это нормально, и мы поправим всё бесплатно.\n\n"
        "Чтобы мастер приехал и всё отрегулировал, позвоните по номеру "
        "{{ business.phone }} или просто ответьте на это письмо, указав удобный день.\n\n"
        + _SIGNATURE,
    ),
)


# --- replaying the past through the engine -----------------------------------------


class _ReplayWorker(Worker):
    """The engine replaying the past month: e-mails count as sent but never leave the machine.

    Call tasks and letters are real rows of our own database, so those channels run as
    they are.
    """

    def __init__(self, business: Business, clock: ManualClock) -> None:
        super().__init__(
            EngineConfig(batch_size=1000, lease_seconds=3600),
            clock=clock,
            worker_id="demo-replay",
            # Only the demo's own enrollments: another business's overdue touches must
            # never be "sent" by a replay that delivers nothing.
            business_id=business.pk,
        )

    def deliver(self, plans: list[Plan]) -> None:
        local: dict[str, list[Plan]] = {Channel.CALL: [], Channel.LETTER: []}
        for plan in plans:
            if plan.outbound is None or plan.touch is None:
                continue
            if plan.touch.channel in local:
                local[plan.touch.channel].append(plan)
            else:
                plan.result = Result(Outcome.SENT, provider_message_id="demo")
        for code, group in local.items():
            outbound = [p.outbound for p in group if p.outbound is not None]
            if outbound:
                results = get_channel(code).deliver_batch(outbound, lambda: False)
                for plan, result in zip(group, results, strict=True):
                    plan.result = result


class _Replay:
    def __init__(self, business: Business, start: datetime) -> None:
        self.clock = ManualClock(start)
        self.worker = _ReplayWorker(business, self.clock)

    def advance_to(self, moment: datetime) -> None:
        if moment > self.clock.now():
            self.clock.set(moment)
        # run_batch, not run(): the loop logs each start and stop, hundreds of times here.
        while self.worker.run_batch():
            pass


# --- the builder ---------------------------------------------------------------------


@dataclass
class _Person:
    """A contact to be: who, how to reach them, and what they did."""

    first_name: str
    patronymic: str
    last_name: str
    gender: str
    phone: str
    email: str
    company: str
    birthday: date | None
    seller: User
    source: LeadSource | None
    consents: tuple[ConsentGrant, ...]
    first_visit: datetime
    bought_first: bool
    # A client from the workshop's books before Kasatka: these purchases, oldest first.
    old_purchases: tuple[datetime, ...] = ()
    # An old client who buys again once the win-back reached them.
    won_back: bool = False
    # An interior designer, ordering for clients every few weeks.
    designer: bool = False
    # Buys on promotion whenever there is one.
    likes_discounts: bool = False
    contact: Contact | None = None


@dataclass
class _Event:
    at: datetime
    kind: str  # "visit", "purchase", "unsubscribe", "referral" or "tick"
    person: _Person | None = None  # a referral's: the client who recommended
    bought: bool = False
    seller: User | None = None
    amount: Decimal | None = None
    note: str = ""
    loss_reason: LossReason | None = None
    on_promotion: bool = False
    referred: _Person | None = None
    # Ties at one moment keep the order the events were planned in.
    order: int = 0


@dataclass
class _Builder:
    contacts: int
    seed: int
    now: datetime
    rng: random.Random = field(init=False)
    fake: Any = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        # People are drawn from streams of their own: how many draws the times take
        # depends on `now`, and the same seed must give the same people on any day.
        self.people_rng = random.Random(f"people-{self.seed}")
        self.fake = Faker("ru_RU")
        self.fake.seed_instance(self.seed)
        self.fake_companies = Faker("ru_RU")
        self.fake_companies.seed_instance(self.seed + 1)
        # Postal addresses from a stream of their own: adding them changed nobody else.
        self.fake_places = Faker("ru_RU")
        self.fake_places.seed_instance(self.seed + 2)
        self.now = self.now.astimezone(UTC)
        self.zone = ZoneInfo("Europe/Moscow")
        self.history_start = self.now - timedelta(days=HISTORY_DAYS)
        self.enrol_start = self.now - timedelta(days=ENROL_DAYS)
        self.cutoff = self.now - LIVE_LAG
        self.events: list[_Event] = []
        self.phones: set[str] = set()
        self.emails: set[str] = set()

    def build(self) -> DemoResult:
        self.business = self._business()
        self.users = self._users()
        self.sellers = [u for u in self.users if u.role == Role.SELLER]
        self.sources = self._sources()
        self._source_costs()
        self.loss_reasons = self._loss_reasons()
        self._chain(WARMING_NAME, ChainKind.WARMING, True, WARMING)
        self._chain(LOYALTY_NAME, ChainKind.LOYALTY, False, LOYALTY)
        # The method's own chains (lead conversion, nurture, win-back) and its figures for
        # a furniture shop: a client who has not bought for 18 months is lapsing.
        ensure_method_chains(self.business)
        figures = method_settings(self.business)
        figures.lapse_period_days = LAPSE_PERIOD_DAYS
        figures.save(update_fields=["lapse_period_days"])
        # Custom orders: deals that wait on the client, with their nudges (kasatka.deals).
        self.deals = DealsReplay(self.business, self.seed)
        people = self._people()
        for person in people:
            self._plan_person(person)
        self._plan_referrals(people)
        self._plan_refused_visits()
        self._create_contacts(people)
        history = [e for e in self.events if e.at < self.enrol_start]
        live = [e for e in self.events if e.at >= self.enrol_start]
        self._write_history(history)
        self._play_live(live)
        self._close_past_calls()
        self._post_past_letters()
        # Deals stuck since the replay ended get today's nudges to throw.
        nudge_stuck_deals(self.now, self.business.pk)
        # Who lapsed since the replay last looked: their win-back starts today.
        self._detect_lapses(self.now)
        return self._result()

    # --- helpers --------------------------------------------------------------
    def _moment(self, start: datetime, end: datetime) -> datetime | None:
        """A random moment in [start, end) while the showroom is open, or None if none is."""
        # Whole minutes, as a seller would write the time down.
        base = start.replace(second=0, microsecond=0)
        if base < start:
            base += timedelta(minutes=1)
        minutes = int((end - base).total_seconds() // 60)
        if minutes <= 0:
            return None
        for _attempt in range(200):
            at = base + timedelta(minutes=self.rng.randrange(minutes))
            if OPEN_HOUR <= at.astimezone(self.zone).hour < CLOSE_HOUR:
                return at
        return None

    def _days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def _price(self, cheap: bool = False, product: str = "") -> tuple[str, Decimal]:
        """A product (the given one, or any) and what it cost this client, to 100 roubles."""
        products = [p for p in PRODUCTS if p[1] < 50_000] if cheap else list(PRODUCTS)
        name, low, high = next((p for p in PRODUCTS if p[0] == product), None) or self.rng.choice(
            products
        )
        return name, Decimal(self.rng.randrange(low // 100, high // 100 + 1) * 100)

    def _add(self, event: _Event) -> None:
        event.order = len(self.events)
        self.events.append(event)

    # --- the business, its people and chains ----------------------------------------
    def _business(self) -> Business:
        business = Business.objects.create(
            name=DEMO_NAME,
            slug=DEMO_SLUG,
            time_zone="Europe/Moscow",
            country="RU",
            language="ru",
            phone="+7 495 120-45-67",
            email="salon@kedr-mebel.example",
            website="https://kedr-mebel.example",
            postal_address="Москва, ул. Плотников, д. 12, стр. 3",
            email_from_name="Мастерская «Кедр»",
        )
        # A workshop with history: it existed well before its oldest visit.
        Business.objects.filter(pk=business.pk).update(created_at=self._days_ago(400))
        return business

    def _users(self) -> list[User]:
        # One hash for all: hashing is deliberately slow and the password is the same.
        password = make_password(DEMO_PASSWORD)
        users: list[User] = []
        for staff in STAFF:
            is_owner = staff.username == DEMO_OWNER
            user = User(
                username=staff.username,
                password=password,
                business=self.business,
                role=staff.role,
                first_name=staff.first_name,
                patronymic=staff.patronymic,
                last_name=staff.last_name,
                phone=staff.phone,
                email=f"{staff.username}@kedr-mebel.example",
                is_staff=is_owner,
                is_superuser=is_owner,
                date_joined=self._days_ago(400 if is_owner else self.rng.randint(150, 380)),
            )
            user.save()
            users.append(user)
        return users

    def _sources(self) -> list[LeadSource]:
        return [
            LeadSource.objects.create(
                business=self.business,
                name=s.name,
                channel=s.channel,
                utm_source=s.utm_source,
                utm_medium=s.utm_medium,
                utm_campaign=s.utm_campaign,
                created_at=self._days_ago(300),
            )
            for s in SOURCES
        ]

    def _source_costs(self) -> None:
        """What the paid sources cost: a bill for each calendar month the history touches
        (the current one whole, as billed), a one-off for the whole season."""
        # A stream of its own: how many months there are depends on `now`.
        rng = random.Random(f"costs-{self.seed}")
        first = self.history_start.astimezone(self.zone).date()
        last = self.now.astimezone(self.zone).date()
        costs: list[LeadSourceCost] = []
        for spec, source in zip(SOURCES, self.sources, strict=True):
            if spec.once:
                costs.append(LeadSourceCost(
                    business=self.business, source=source, period_start=first,
                    period_end=last, amount=Decimal(spec.once),
                ))
            if spec.monthly is None:
                continue
            low, high = spec.monthly
            month = first.replace(day=1)
            while month <= last:
                following = (month + timedelta(days=32)).replace(day=1)
                costs.append(LeadSourceCost(
                    business=self.business, source=source, period_start=month,
                    period_end=following - timedelta(days=1),
                    amount=Decimal(rng.randrange(low // 1000, high // 1000 + 1) * 1000),
                ))
                month = following
        LeadSourceCost.objects.bulk_create(costs)

    def _loss_reasons(self) -> list[LossReason]:
        return LossReason.objects.bulk_create(
            LossReason(business=self.business, name=name, kind=kind, position=i)
            for i, (name, kind) in enumerate(LOSS_REASONS, start=1)
        )

    def _loss_reason(self, seller: User) -> LossReason:
        """Why a visitor of this seller left: by the seller's own error `errors` % of times."""
        errors = next(s.errors for s in STAFF if s.username == seller.username)
        kind = LossKind.NON_OBJECTIVE if self.rng.random() * 100 < errors else LossKind.OBJECTIVE
        return self.rng.choice([r for r in self.loss_reasons if r.kind == kind])

    def _on_promotion(self, person: _Person) -> bool:
        return self.rng.random() < (0.8 if person.likes_discounts else 0.1)

    def _chain(
        self, name: str, kind: str, exit_on_purchase: bool, specs: Sequence[_StepSpec]
    ) -> Chain:
        chain = Chain.objects.create(
            business=self.business,
            name=name,
            kind=kind,
            exit_on_purchase=exit_on_purchase,
            created_at=self._days_ago(200),
        )
        for position, spec in enumerate(specs, start=1):
            # Step.save validates the templates: a broken demo text fails here, loudly.
            Step.objects.create(
                chain=chain,
                position=position,
                delay=timedelta(days=spec.days),
                channels=list(spec.channels),
                is_commercial=spec.commercial,
                reason=spec.reason,
                subject_template=spec.subject,
                body_template=spec.body,
            )
        return chain

    # --- the clients -------------------------------------------------------------------
    def _phone(self) -> str:
        while True:
            number = "+79" + "".join(str(self.rng.randrange(10)) for _ in range(9))
            # Not every +79… block is allocated (e.g. +7930…); create_contact would refuse it.
            if number not in self.phones and phonenumbers.is_valid_number(
                phonenumbers.parse(number)
            ):
                self.phones.add(number)
                return number

    def _email(self, first: str, last: str, birthday: date | None) -> str:
        f, lt = first.lower().translate(_TRANSLIT), last.lower().translate(_TRANSLIT)
        year = birthday.year if birthday else self.rng.randint(1960, 2002)
        local = self.rng.choice(
            (f"{f}.{lt}", f"{lt}.{f}", f"{f[0]}.{lt}", f"{f}{year % 100:02d}",
             f"{lt}{year}", f"{f}_{lt}")
        )
        domain = self.rng.choice(MAIL_DOMAINS)
        address, n = f"{local}@{domain}", 1
        while address in self.emails:
            n += 1
            address = f"{local}{n}@{domain}"
        self.emails.add(address)
        return address

    def _postal_address(self) -> str:
        """Street, house and flat on one line, then the postcode and city, as on envelopes."""
        fake = self.fake_places
        flat = fake.random_int(1, 240)
        street = f"ул. {fake.street_title()}, д. {fake.building_number()}, кв. {flat}"
        return f"{street}\n{fake.postcode()} {fake.city_name()}"

    def _name(self, female: bool) -> tuple[str, str, str]:
        """First name, patronymic and last name of one gender.

        Faker's ru_RU first names and patronymics lean to the archaic (Виссарион
        Евстигнеевич) and its patronymics lack the commonest ones (no Сергеевич):
        most people get everyday names, some keep Faker's rarer ones, as in life.
        """
        fake, rng = self.fake, self.people_rng
        if rng.random() < 0.8:
            first = rng.choice(COMMON_FEMALE_NAMES if female else COMMON_MALE_NAMES)
        else:
            first = fake.first_name_female() if female else fake.first_name_male()
        if rng.random() < 0.85:
            patronymic = rng.choice(COMMON_PATRONYMICS)[1 if female else 0]
        else:
            patronymic = fake.middle_name_female() if female else fake.middle_name_male()
        last = fake.last_name_female() if female else fake.last_name_male()
        return first, patronymic, last

    def _people(self) -> list[_Person]:
        seller_weights = [
            next(s.serves for s in STAFF if s.username == u.username) for u in self.sellers
        ]
        source_weights = [s.weight for s in SOURCES]
        # A few of today's visitors, so that the worker has something new the moment it starts.
        recent = min(self.contacts, max(3, self.contacts // 60))
        # The old clients come last; the first of them is always a regular who lapsed and
        # came back after the win-back, whatever the seed.
        first_old = self.contacts - min(round(self.contacts * OLD_CLIENTS_SHARE),
                                        self.contacts - recent)
        people: list[_Person] = []
        for i in range(self.contacts):
            female = self.people_rng.random() < 0.58  # furniture showrooms see more women
            first, patronymic, last = self._name(female)
            if self.people_rng.random() < 0.05:
                patronymic = ""  # some give only a first name
            birthday = None
            if self.rng.random() < 0.35:
                # From `now`, not today: the same seed and `now` always give the same data.
                birthday = self.now.date() - timedelta(days=self.rng.randint(22 * 365, 72 * 365))
            has_email = self.rng.random() < 0.85
            old_purchases = self._old_purchases(i == first_old) if i >= first_old else ()
            window_start = self.cutoff if i < recent else self.history_start
            first_visit = old_purchases[0] if old_purchases else self._moment(
                window_start, self.now)
            assert first_visit is not None  # both windows span whole days
            bought = bool(old_purchases) or self.rng.random() < SHARE_BOUGHT
            roll = self.rng.random()
            purpose: str
            if roll < 0.80:
                purpose = Purpose.COMMERCIAL
            elif roll < 0.92:
                purpose = Purpose.INFORMATIONAL
            else:
                purpose = ""
            if i < min(recent, 2):
                # Today's first two visitors left without buying, one with only a phone
                # number, one with an e-mail too: the worker's first batch then shows
                # both a call task and an e-mail, whatever the seed.
                has_email, bought, purpose = i == 1, False, Purpose.COMMERCIAL
            email = self._email(first, last, birthday) if has_email else ""
            basis = ConsentBasis.PURCHASE if bought else ConsentBasis.VISIT
            channels = [Channel.CALL] + ([Channel.EMAIL] if has_email else [])
            consents = tuple(
                ConsentGrant(ch, purpose, basis, "Анкета клиента в салоне")
                for ch in channels
                if purpose
            )
            people.append(
                _Person(
                    first_name=first,
                    patronymic=patronymic,
                    last_name=last,
                    gender=Gender.FEMALE if female else Gender.MALE,
                    phone=self._phone(),
                    email=email,
                    company=self.fake_companies.company() if self.rng.random() < 0.08 else "",
                    birthday=birthday,
                    seller=self.rng.choices(self.sellers, seller_weights)[0],
                    # The old books did not say where a client came from.
                    source=(
                        self.rng.choices(self.sources, source_weights)[0]
                        if self.rng.random() < 0.9 and not old_purchases
                        else None
                    ),
                    consents=consents,
                    first_visit=first_visit,
                    bought_first=bought,
                    old_purchases=old_purchases,
                    won_back=bool(old_purchases) and (
                        i == first_old or self.rng.random() < WINBACK_RETURN),
                    likes_discounts=self.rng.random() < 0.08,
                    designer=bought and not old_purchases and self.rng.random() < DESIGNERS,
                )
            )
        # Created in the order they came: ids grow with time, as in a real database.
        people.sort(key=lambda p: p.first_visit)
        return people

    def _old_purchases(self, lapsed_lately: bool) -> tuple[datetime, ...]:
        """When an old client bought: a regular still buying every few months; or one who
        bought two to four times, some weeks or months apart, the last time around one
        lapse period before `now` (`lapsed_lately`: three times, lapsed a few weeks ago)."""
        if not lapsed_lately and self.rng.random() < OLD_STILL_BUYING:
            moment = self._moment(self._days_ago(1100), self._days_ago(700))
            still: list[datetime] = []
            while moment is not None and moment < self.now:
                still.append(moment)
                step = timedelta(days=self.rng.randint(60, 200))
                moment = self._moment(moment + step, moment + step + timedelta(days=1))
            return tuple(still)
        count = 3 if lapsed_lately else self.rng.choices((2, 3, 4), (30, 45, 25))[0]
        low, high = (20, 35) if lapsed_lately else OLD_LAST_PURCHASE
        lapse_ago = self._days_ago(LAPSE_PERIOD_DAYS)
        moment = self._moment(lapse_ago - timedelta(days=high), lapse_ago - timedelta(days=low))
        assert moment is not None
        times = [moment]
        for _i in range(count - 1):
            gap = timedelta(days=self.rng.randint(40, 160))
            moment = self._moment(times[-1] - gap - timedelta(days=1), times[-1] - gap)
            assert moment is not None  # a whole day
            times.append(moment)
        return tuple(reversed(times))

    def _plan_person(self, person: _Person) -> None:
        t0 = person.first_visit
        if person.old_purchases:
            self._plan_old_client(person)
            return
        product, amount = self._price()
        if person.bought_first:
            self._add(_Event(t0, "visit", person, True, person.seller, amount, product,
                             on_promotion=self._on_promotion(person)))
            # Some come back for more: another room, a chest of drawers to match; a
            # designer orders for the next client's flat.
            at = t0
            again, soonest, latest = (0.95, 7, 21) if person.designer else (0.2, 10, 100)
            while self.rng.random() < again:
                at_next = self._moment(at + timedelta(days=soonest), at + timedelta(days=latest))
                if at_next is None or at_next >= self.now:
                    break
                at = at_next
                product, amount = self._price(cheap=self.rng.random() < 0.5)
                what = "Заказ дизайнера для клиента" if person.designer else (
                    "Повторный заказ по телефону")
                self._add(_Event(at, "purchase", person, True, person.seller, amount,
                                 f"{what}: {product}", on_promotion=self._on_promotion(person)))
        else:
            self._add(_Event(t0, "visit", person, False, person.seller, None,
                             f"Смотрели: {product}",
                             loss_reason=self._loss_reason(person.seller)))
            # Warming works on some: they come back and buy within the month.
            if self.rng.random() < 0.22:
                back = self._moment(t0 + timedelta(days=3), min(t0 + timedelta(days=28), self.now))
                if back is not None:
                    # Ordered after the designer's visit: a purchase, not a showroom visit,
                    # which keeps the visit types near the method's 35/10/45/10.
                    amount = self._price(product=product)[1]
                    self._add(_Event(back, "purchase", person, True, person.seller, amount,
                                     f"Заказ после замера: {product}",
                                     on_promotion=self._on_promotion(person)))
        if person.email and self.rng.random() < 0.03:
            gone = self._moment(t0 + timedelta(days=4), min(t0 + timedelta(days=25), self.now))
            if gone is not None:
                self._add(_Event(gone, "unsubscribe", person))

    def _plan_old_client(self, person: _Person) -> None:
        """The purchases in the old books, and the return of one the win-back reached."""
        for at in person.old_purchases:
            product, amount = self._price()
            note = f"Из старой базы: {product}" if at < self.history_start else (
                f"Заказ постоянного клиента: {product}")
            self._add(_Event(at, "purchase", person, True, person.seller, amount, note,
                             on_promotion=self._on_promotion(person)))
        if not person.won_back:
            return
        # The replay looked first when Kasatka started, then every LAPSE_CHECK: that and a
        # day after the lapse (or the start) the win-back has reached them.
        lapsed = person.old_purchases[-1] + timedelta(days=LAPSE_PERIOD_DAYS)
        reached = max(lapsed, self.enrol_start) + LAPSE_CHECK + timedelta(days=1)
        back = self._moment(reached, min(reached + timedelta(days=30), self.now))
        if back is not None:
            product, amount = self._price(cheap=self.rng.random() < 0.5)
            self._add(_Event(back, "purchase", person, True, person.seller, amount,
                             f"Вернулись после звонка: {product}",
                             on_promotion=self._on_promotion(person)))

    def _plan_referrals(self, people: list[_Person]) -> None:
        """Some word-of-mouth visitors name the client who sent them: a referral, which
        makes that client an adept. Long-standing clients recommend us more."""
        first_bought: dict[int, datetime] = {}
        for e in self.events:
            if e.person is not None and e.bought:
                key = id(e.person)
                first_bought[key] = min(e.at, first_bought.get(key, e.at))
        clients = [p for p in people if id(p) in first_bought]
        for person in people:
            if person.source is None or person.source.name != WORD_OF_MOUTH:
                continue
            if self.rng.random() >= REFERRED_SHARE:
                continue
            known = [c for c in clients if first_bought[id(c)] < person.first_visit]
            if not known:
                continue
            weights = [5 if c.old_purchases else 1 for c in known]
            referrer = self.rng.choices(known, weights)[0]
            came = "пришла" if person.gender == Gender.FEMALE else "пришёл"
            self._add(_Event(person.first_visit, "referral", referrer,
                             note=f"{person.first_name} {person.last_name} {came} по рекомендации",
                             referred=person))

    def _plan_refused_visits(self) -> None:
        """Visitors who gave no contacts: counted for the sellers' capture rate, nothing sent."""
        weights = [next(s.loses for s in STAFF if s.username == u.username) for u in self.sellers]
        count = round(self.contacts * REFUSED_PER_CONTACT)
        for bought in (True, False):
            for _i in range(count):
                at = self._moment(self.history_start, self.now)
                assert at is not None
                seller = self.rng.choices(self.sellers, weights)[0]
                product, amount = self._price()
                if bought:
                    self._add(_Event(at, "visit", None, True, seller, amount,
                                     f"Купили: {product}. Контакты оставить отказались"))
                else:
                    self._add(_Event(at, "visit", None, False, seller, None,
                                     f"Смотрели: {product}",
                                     loss_reason=self._loss_reason(seller)))

    def _create_contacts(self, people: list[_Person]) -> None:
        paper_age = self.business.paper_from_age or 0
        for person in people:
            older = person.birthday is not None and (
                (self.now.date() - person.birthday).days // 365 >= paper_age
            )
            letters = tuple(
                ConsentGrant(Channel.LETTER, g.purpose, g.basis, g.source)
                for g in person.consents
                if older and g.channel == Channel.EMAIL
            )
            person.contact = create_contact(
                self.business,
                first_name=person.first_name,
                last_name=person.last_name,
                patronymic=person.patronymic,
                gender=person.gender,
                birthday=person.birthday,
                company=person.company,
                owner=person.seller,
                source_id=person.source.pk if person.source else None,
                phones=[person.phone],
                emails=[person.email] if person.email else [],
                consents=person.consents + letters,
                created_at=person.first_visit,
            )
            if older:
                # Those who filled in the form in the showroom left their home address.
                Address.objects.create(
                    business=self.business, contact=person.contact, kind=AddressKind.POSTAL,
                    value=self._postal_address(), created_at=person.first_visit,
                )

    # --- what happened -------------------------------------------------------------------
    def _write_history(self, events: list[_Event]) -> None:
        """Older visits and purchases, written directly: their chains would be long over."""
        visits: list[Visit] = []
        purchases: list[Purchase] = []
        consents: list[Consent] = []
        referrals: list[Referral] = []
        for e in events:
            contact = e.person.contact if e.person else None
            if e.kind == "visit":
                taken = contact is not None
                visits.append(
                    Visit(
                        business=self.business, contact=contact, seller=e.seller,
                        occurred_at=e.at, bought=e.bought, contacts_taken=taken,
                        visit_type=VisitType.classify(e.bought, taken), amount=e.amount,
                        loss_reason=e.loss_reason, note=e.note,
                    )
                )
            if contact is not None and e.bought and e.amount is not None:
                purchases.append(
                    Purchase(
                        business=self.business, contact=contact, amount=e.amount,
                        purchased_at=e.at, seller=e.seller, note=e.note[:300],
                        on_promotion=e.on_promotion,
                    )
                )
            if e.kind == "unsubscribe" and contact is not None:
                consents.append(
                    Consent(
                        business=self.business, contact=contact, channel=Channel.EMAIL,
                        purpose=Purpose.COMMERCIAL, status=ConsentStatus.WITHDRAWN,
                        basis=ConsentBasis.UNSUBSCRIBE, source="Ссылка «Отписаться» в письме",
                        recorded_at=e.at,
                    )
                )
            if e.kind == "referral" and contact is not None and e.referred is not None:
                referrals.append(
                    Referral(
                        business=self.business, referrer=contact, referred=e.referred.contact,
                        note=e.note, recorded_at=e.at,
                    )
                )
        Visit.objects.bulk_create(visits)
        Purchase.objects.bulk_create(purchases)
        Consent.objects.bulk_create(consents)
        Referral.objects.bulk_create(referrals)
        self._settle_history(purchases, referrals)

    def _settle_history(self, purchases: list[Purchase], referrals: list[Referral]) -> None:
        """The stages and side types the history earned, each move a `StageChange` as
        `lifecycle.recompute` records it at each purchase and referral (bulk, not one
        recompute per fact: the rules are the lifecycle's own `standing`)."""
        settings = method_settings(self.business)
        facts: dict[int, list[tuple[datetime, str, Purchase | None]]] = defaultdict(list)
        for p in purchases:
            facts[p.contact_id].append((p.purchased_at, f"purchase #{p.pk}", p))
        for r in referrals:
            facts[r.referrer_id].append((r.recorded_at, f"referral #{r.pk}", None))
        contacts = Contact.objects.in_bulk(list(facts))
        changes: list[StageChange] = []

        def change(contact: Contact, name: str, old: str, new: str, cause: str,
                   at: datetime) -> None:
            changes.append(StageChange(
                business=self.business, contact=contact, field=name, old=old, new=new,
                cause=cause, changed_at=at,
            ))

        for pk, timeline in facts.items():
            contact = contacts[pk]
            bought: list[PurchaseFact] = []
            referred = False
            for at, cause, purchase in sorted(timeline, key=lambda f: f[0]):
                if purchase is None:
                    referred = True
                else:
                    bought.append(PurchaseFact(purchase.purchased_at, purchase.on_promotion))
                earned = lifecycle.standing(bought, contact.created_at, referred, settings)
                # Data only grows here: a stage moves forward, the flags follow the data.
                if STAGE_RANK[earned.stage] > STAGE_RANK[contact.stage]:
                    change(contact, "stage", contact.stage, earned.stage, cause, at)
                    contact.stage = earned.stage
                for flag in lifecycle.FLAGS:
                    value: bool = getattr(earned, flag)
                    if value != getattr(contact, flag):
                        change(contact, flag, _flag(not value), _flag(value), cause, at)
                        setattr(contact, flag, value)
        StageChange.objects.bulk_create(changes)
        Contact.objects.bulk_update(contacts.values(), ["stage", *lifecycle.FLAGS])

    def _play_live(self, events: list[_Event]) -> None:
        """The last weeks through the real actions, with the engine working as time passes."""
        replay = _Replay(self.business, self.enrol_start)
        # The replayed engine wakes up a few times a shop day: touches go out in the
        # daytime batches a real worker would send, and the replay stays fast.
        ticks: list[_Event] = []
        day = self.enrol_start.astimezone(self.zone).date()
        while day <= self.cutoff.astimezone(self.zone).date():
            for hour in REPLAY_HOURS:
                tick = datetime.combine(day, time(hour), tzinfo=self.zone).astimezone(UTC)
                if self.enrol_start <= tick <= self.cutoff:
                    ticks.append(_Event(tick, "tick", order=-1))
            day += timedelta(days=1)
        look = self.enrol_start
        for e in sorted(events + ticks, key=lambda e: (e.at, e.order)):
            if e.kind == "tick":
                if e.at >= look:
                    self._detect_lapses(e.at)
                    look = e.at + LAPSE_CHECK
                replay.advance_to(e.at)
                self.deals.tick(e.at)
                replay.advance_to(e.at)  # the nudges just thrown go out
                continue
            contact = e.person.contact if e.person else None
            if e.kind == "visit":
                record_visit(
                    contact, business_id=self.business.pk, bought=e.bought,
                    contacts_taken=contact is not None, seller=e.seller, amount=e.amount,
                    loss_reason=e.loss_reason, note=e.note, at=e.at, on_promotion=e.on_promotion,
                )
                if contact is not None and not e.bought and self.deals.wants_deal():
                    # A custom piece: the seller sends the price list or a proposal.
                    self.deals.open_deal(contact, e.seller, e.at)
            elif e.kind == "purchase" and contact is not None and e.amount is not None:
                record_purchase(contact, e.amount, e.seller, e.at, e.note[:300],
                                on_promotion=e.on_promotion)
            elif e.kind == "referral" and contact is not None and e.referred is not None:
                record_referral(contact, e.referred.contact, e.note, e.at)
            elif e.kind == "unsubscribe" and contact is not None:
                record_consent(
                    contact, Channel.EMAIL, Purpose.COMMERCIAL, ConsentStatus.WITHDRAWN,
                    ConsentBasis.UNSUBSCRIBE, "Ссылка «Отписаться» в письме", e.at,
                )

    def _close_past_calls(self) -> None:
        """Sellers made most of the calls the replay gave them; the freshest wait in the list."""
        outcomes = [CallOutcome.REACHED, CallOutcome.NO_ANSWER, CallOutcome.CALL_BACK,
                    CallOutcome.REFUSED]
        tasks = list(CallTask.objects.filter(business=self.business).order_by("due_at", "id"))
        for task in tasks:
            # Written under the replayed time, not the wall clock of the build.
            task.created_at = task.due_at
            fresh = task.due_at > self.now - timedelta(days=2)
            if self.rng.random() >= (0.5 if fresh else 0.92):
                continue
            outcome = self.rng.choices(outcomes, (60, 25, 10, 5))[0]
            closed = min(task.due_at + timedelta(minutes=self.rng.randint(20, 300)), self.now)
            task.note = self.rng.choice(CALL_NOTES[outcome])
            if outcome == CallOutcome.CALL_BACK:
                # As close_call does: the task comes back at the time the client named.
                task.callback_at = task.due_at = closed + timedelta(days=2)
                continue
            task.outcome = outcome
            task.closed_at = closed
            task.closed_by_id = task.assignee_id
            if outcome == CallOutcome.NO_ANSWER:
                task.attempts = 3  # tried on three days before giving up
        CallTask.objects.bulk_update(
            tasks,
            ["created_at", "due_at", "outcome", "note", "closed_at", "closed_by", "callback_at",
             "attempts"],
        )

    def _post_past_letters(self) -> None:
        """Letters of past days were printed and posted by the owner; today's wait in the queue."""
        today = self.now.astimezone(self.zone).date()
        owner = next(u for u in self.users if u.role == Role.OWNER)
        for letter in Letter.objects.filter(business=self.business, due_date__lt=today):
            moment = datetime.combine(letter.due_date, time(18, 0), tzinfo=self.zone)
            letter.status = LetterStatus.POSTED
            letter.printed_at = moment
            letter.posted_at = moment
            letter.posted_by = owner
            letter.save(update_fields=["status", "printed_at", "posted_at", "posted_by"])

    def _detect_lapses(self, at: datetime) -> None:
        """`insights.lapse.detect_lapses` for the demo alone: rescore its clients, flag who
        lapsed, start their win-back and their sellers' calls. Another business's clients
        are not the demo's to flag."""
        refresh_business(self.business, at)
        due = due_lapses(self.business, at)
        chain = (
            Chain.objects.filter(business=self.business, kind=ChainKind.WINBACK, is_active=True)
            .order_by("id")
            .first()
        )
        for risk in due:
            risk.contact.business = self.business
            flag_lapse(risk, chain, at)

    def _result(self) -> DemoResult:
        b = self.business
        visits = Counter(
            dict(
                Visit.objects.filter(business=b)
                .values("visit_type")
                .annotate(n=Count("id"))
                .values_list("visit_type", "n")
            )
        )
        enrollments = Enrollment.objects.filter(business=b)
        return DemoResult(
            business=b,
            owner_username=DEMO_OWNER,
            password=DEMO_PASSWORD,
            contacts=Contact.objects.filter(business=b).count(),
            visits_by_type={t: visits.get(t, 0) for t in VisitType.values},
            purchases=Purchase.objects.filter(business=b).count(),
            enrollments=enrollments.count(),
            active_enrollments=enrollments.filter(state=EnrollmentState.ACTIVE).count(),
            touches=Touch.objects.filter(business=b).count(),
            call_tasks=CallTask.objects.filter(business=b).count(),
            deals=Deal.objects.filter(business=b).count(),
        )
