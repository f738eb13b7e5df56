"""The demo workshop's deals: custom furniture orders that wait on the client, replayed.

Over the demo's live weeks some clients ask for a custom piece: a deal opens at the price
list, the proposal or the invoice. The replay runs the real trigger on each tick, sellers
throw most proposed nudges (some as calls), clients answer about half of them in their
own words — read by the real classifier, and corrected by the seller where it misread —
and paid orders are delivered and won. What is left at the end is today's plan.
"""

# Replies are Russian prose, so Cyrillic letters in strings are meant.

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from kasatka.accounts.models import Business, User
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.models import InboundMessage
from kasatka.contacts.models import Contact

from .actions import create_deal, win_deal
from .library import ensure_default_pipeline
from .models import Deal, DealStage, DealStatus, DealTask, Nudge, NudgeMode, NudgeState
from .nudging import nudge_stuck_deals, throw
from .replies import correct_reply, on_inbound

# What clients answer, by what they mean.
REPLIES: Final[dict[str, tuple[str, ...]]] = {
    "yes": (
        "Да, всё в силе", "Да, актуально. Ждём счёт", "Да, берём", "Всё по плану, спасибо!",
        "Да, всё хорошо, делаем", "Актуально, да",
    ),
    "no": (
        "Нет, спасибо, уже не актуально", "Нет, купили в другом месте", "Отказываемся, извините",
        "Нет, решили пока не делать", "Не надо, спасибо",
    ),
    "date": (
        "Давайте вернёмся к этому на следующей неделе", "Оплатим в пятницу",
        "Через неделю напишу", "Завтра скажу точно", "Напишите после 20-го, пожалуйста",
    ),
    "other": (
        "А можно скидку, если возьмём ещё и тумбу?", "Пришлите, пожалуйста, счёт ещё раз",
        "А сроки изготовления какие?", "Можно посмотреть образцы в салоне?",
    ),
}
_MEANINGS: Final = tuple(REPLIES)
_WEIGHTS: Final = (35, 20, 25, 20)
# The share of contacts of the live weeks who ask for a custom order.
DEAL_SHARE: Final = 0.45
PRODUCTS: Final = (
    ("Кухонный гарнитур на заказ", 120_000, 350_000),
    ("Шкаф-купе по размерам", 45_000, 140_000),
    ("Гардеробная под ключ", 90_000, 260_000),
    ("Стол из массива дуба", 40_000, 110_000),
)


@dataclass
class _Answer:
    at: datetime
    meaning: str
    text: str


class DealsReplay:
    """Opens the demo's deals at their moments and plays the nudges on each engine tick."""

    def __init__(self, business: Business, seed: int) -> None:
        self.business = business
        # A stream of its own: deals change no one else's draws.
        self.rng = random.Random(f"deals-{seed}")
        self.stages: list[DealStage] = list(
            ensure_default_pipeline(business).stages.order_by("position")
        )
        self.answers: dict[int, _Answer | None] = {}

    def wants_deal(self) -> bool:
        return self.rng.random() < DEAL_SHARE

    def open_deal(self, contact: Contact, seller: User | None, at: datetime) -> Deal:
        name, low, high = self.rng.choice(PRODUCTS)
        amount = Decimal(self.rng.randrange(low // 1000, high // 1000 + 1) * 1000)
        stage = self.rng.choices(self.stages, (10, 35, 30, 20, 5))[0]
        return create_deal(contact, name, amount, stage, seller=seller, at=at)

    def tick(self, at: datetime) -> None:
        nudge_stuck_deals(at, self.business.pk)
        self._throw(at)
        self._answer(at)
        self._work(at)

    def _throw(self, at: datetime) -> None:
        """Sellers throw most proposed nudges the same day; a few they call instead."""
        for nudge in Nudge.objects.filter(
            business=self.business, state=NudgeState.PROPOSED, proposed_at__lte=at
        ).select_related("deal__contact", "deal__business"):
            if self.rng.random() < 0.15:
                continue  # left for later: today's plan shows some
            mode = NudgeMode.CALL if self.rng.random() < 0.15 else NudgeMode.MESSAGE
            throw(nudge, nudge.seller, mode, at=at)

    def _answer(self, at: datetime) -> None:
        """About half the clients answer a nudge within hours, in their own words."""
        touches = Touch.objects.filter(
            business=self.business, enrollment__nudge__state=NudgeState.THROWN,
            status=TouchStatus.SENT,
        ).select_related("enrollment__nudge", "contact")
        for touch in touches:
            nudge = touch.enrollment.nudge
            if nudge.pk not in self.answers:
                self.answers[nudge.pk] = self._decide(touch, nudge)
            answer = self.answers[nudge.pk]
            if answer is None or answer.at > at:
                continue
            message = InboundMessage.objects.create(
                business=self.business, contact=touch.contact, address_id=touch.address_id,
                channel=touch.channel, sender=touch.to, text=answer.text, touch=touch,
                received_at=answer.at,
            )
            Touch.objects.filter(pk=touch.pk).update(status=TouchStatus.REPLIED)
            reply = on_inbound(message)
            if reply is not None and reply.answer != answer.meaning and nudge.seller:
                # The seller reads it and puts the misreading right.
                date = (answer.at + timedelta(days=7)).date() if answer.meaning == "date" else None
                correct_reply(reply, answer.meaning, nudge.seller, date)
            self.answers[nudge.pk] = None

    def _decide(self, touch: Touch, nudge: Nudge) -> _Answer | None:
        if self.rng.random() >= 0.55:
            return None
        meaning = self.rng.choices(_MEANINGS, _WEIGHTS)[0]
        text = self.rng.choice(REPLIES[meaning])
        at = (nudge.thrown_at or touch.created_at) + timedelta(hours=self.rng.randint(2, 30))
        return _Answer(at, meaning, text)

    def _work(self, at: datetime) -> None:
        """Sellers do their tasks within a day; paid orders are delivered within a week."""
        DealTask.objects.filter(
            business=self.business, done_at__isnull=True, due_at__lte=at - timedelta(days=1)
        ).update(done_at=at)
        delivered = Deal.objects.filter(
            business=self.business, status=DealStatus.OPEN, stage=self.stages[-1],
            stage_entered_at__lte=at - timedelta(days=self.rng.randint(3, 7)),
        )
        for deal in delivered:
            win_deal(deal, at, deal.seller, "доставлено")
