"""The default pipeline and the library of nudges that ship with Kasatka (METHOD.md §5).

A good nudge is short and friendly, says what we want and asks for a yes or a no:
«Добрый день, Иван! Заказ в силе или что-то пошло не по плану?». "No" and a new date are
good answers too: they bring clarity. Each stage where the client decides has its own
questions, in Russian and English; the first nudge of a stage uses the first, the next
nudge the next one, so that a client never gets the same words twice in a row.
"""

# Nudge texts are Russian prose, so Cyrillic letters in strings are meant.

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db import transaction

from kasatka.accounts.models import Business

from .models import DealStage, NudgeTemplate, Pipeline


@dataclass(frozen=True)
class StageSpec:
    key: str
    name_ru: str
    name_en: str
    waits_for_client: bool
    wait_days: int
    next_step_ru: str
    next_step_en: str


DEFAULT_STAGES: Final = (
    StageSpec("new", "Новая заявка", "New request", False, 0,
              "Отправить прайс-лист", "Send the price list"),
    StageSpec("price", "Прайс отправлен", "Price list sent", True, 2,
              "Подготовить коммерческое предложение", "Prepare the proposal"),
    StageSpec("proposal", "КП отправлено", "Proposal sent", True, 3,
              "Выставить счёт", "Issue the invoice"),
    StageSpec("invoice", "Счёт выставлен", "Invoice sent", True, 2,
              "Проверить оплату и назначить доставку", "Check the payment and book delivery"),
    StageSpec("delivery", "Оплачено, доставка", "Paid, delivery", False, 0,
              "Доставить и закрыть сделку", "Deliver and close the deal"),
)

_HI_RU = "Добрый день{% if contact.first_name %}, {{ contact.name }}{% endif %}! "
_HI_EN = "Hi{% if contact.first_name %} {{ contact.first_name }}{% endif %}! "

# Stage key → (Russian questions, English questions), in the order they are used.
NUDGES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "price": (
        (
            _HI_RU + "Прайс дошёл? Что-нибудь из него подошло — да или нет?",
            _HI_RU + "Подобрали что-нибудь по прайсу или пока не до этого?",
            _HI_RU + "Вопрос по прайсу ещё актуален? Если нет — так и напишите, "
            "я не буду беспокоить.",
        ),
        (
            _HI_EN + "Did the price list reach you? Anything in it that suits you — yes or no?",
            _HI_EN + "Have you picked anything from the price list, or not yet?",
            _HI_EN + "Is the price list still of interest? If not, just say so and I "
            "won't bother you.",
        ),
    ),
    "proposal": (
        (
            _HI_RU + "По предложению «{{ deal.title }}»: всё в силе или что-то пошло не по плану?",
            _HI_RU + "Предложение «{{ deal.title }}» подходит? Выставлять счёт — да или нет?",
            _HI_RU + "Вы ещё думаете над «{{ deal.title }}» или решили не брать? "
            "Любой ответ меня устроит.",
        ),
        (
            _HI_EN + "About the proposal “{{ deal.title }}”: still on, or has something changed?",
            _HI_EN + "Does the proposal “{{ deal.title }}” work for you? Shall I issue the "
            "invoice — yes or no?",
            _HI_EN + "Are you still considering “{{ deal.title }}”, or have you decided "
            "against it? Either answer is fine.",
        ),
    ),
    "invoice": (
        (
            _HI_RU + "Счёт по «{{ deal.title }}» в силе или что-то пошло не по плану?",
            _HI_RU + "Подскажите, оплату по счёту ждать на этой неделе? Да или нет?",
            _HI_RU + "Счёт ещё актуален? Если сроки сдвинулись — напишите, когда удобно.",
        ),
        (
            _HI_EN + "Is the invoice for “{{ deal.title }}” still on, or has something changed?",
            _HI_EN + "Should I expect the payment this week — yes or no?",
            _HI_EN + "Is the invoice still valid for you? If the dates have moved, tell me "
            "when suits you.",
        ),
    ),
}


def ensure_default_pipeline(business: Business) -> Pipeline:
    """The business's first pipeline with the library's nudges, made once."""
    existing = Pipeline.objects.filter(business=business).order_by("position", "id").first()
    if existing is not None:
        return existing
    english = business.language.startswith("en")
    with transaction.atomic():
        pipeline = Pipeline.objects.create(
            business=business, name="Sales" if english else "Продажи"
        )
        for position, spec in enumerate(DEFAULT_STAGES, start=1):
            stage = DealStage.objects.create(
                pipeline=pipeline, position=position,
                name=spec.name_en if english else spec.name_ru,
                waits_for_client=spec.waits_for_client, wait_days=spec.wait_days,
                next_step=spec.next_step_en if english else spec.next_step_ru,
            )
            add_library_nudges(stage, spec.key)
    return pipeline


def add_library_nudges(stage: DealStage, key: str) -> list[NudgeTemplate]:
    """The library's questions for a kind of stage ("price", "proposal", "invoice")."""
    if key not in NUDGES:
        return []
    made = []
    business = stage.pipeline.business
    for language, texts in zip(("ru", "en"), NUDGES[key], strict=True):
        for position, text in enumerate(texts, start=1):
            made.append(
                NudgeTemplate.objects.create(
                    business=business, stage=stage, language=language, position=position,
                    name=f"{stage.name} #{position} ({language})", text=text,
                )
            )
    return made
