"""A shop with clients of two sellers and an unassigned one, their visits, deals and
touches, and the same in another shop: what the exports read."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from kasatka.accounts.models import Business, Role, User
from kasatka.chains.models import Enrollment, Touch, TouchStatus
from kasatka.contacts.models import Contact, Stage
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.exports.actions import run_export
from kasatka.exports.models import ExportJob
from kasatka.sales.actions import record_visit
from kasatka.sales.models import LeadSource, LossKind, LossReason
from tests import builders

MSK = ZoneInfo("Europe/Moscow")


def fill(business: Business, sellers: list[User | None], clock, n: int = 2) -> list[Contact]:
    """n clients per seller (None: unassigned), each with a visit, a deal and a touch."""
    source = LeadSource.objects.create(business=business, name="Яндекс Директ")
    reason = LossReason.objects.create(business=business, name="Дорого", kind=LossKind.values[0])
    chain = builders.chain(business, name="Прогрев «Кухни»")
    step = chain.steps.get()
    pipeline = ensure_default_pipeline(business)
    stage = pipeline.stages.order_by("position")[1]
    made = []
    for s, seller in enumerate(sellers):
        for i in range(n):
            clock.advance(timedelta(hours=5))
            tag = f"{business.slug}{s}{i}"
            # Two digits of the business's id, whatever it is (PostgreSQL's run long).
            phone = f"+7916{business.pk % 100:02d}{s:02d}{i:03d}"
            contact = builders.contact(
                business, email=f"{tag}@example.com", phone=phone,
                owner=seller, first_name=f"Анна{i}", last_name=f"Ёлкина-{s}",
            )
            Contact.objects.filter(pk=contact.pk).update(
                source=source if i % 2 == 0 else None, created_at=clock.now(),
                stage=Stage.NEW if i % 2 else Stage.LEAD, company="ООО «Кедр; и партнёры»",
            )
            record_visit(contact, business_id=business.pk, bought=i % 2 == 1, contacts_taken=True,
                         seller=seller, amount=Decimal("1234.50") if i % 2 else None,
                         loss_reason=None if i % 2 else reason, note="Спросила про «угловой»",
                         at=clock.now())
            create_deal(contact, f"Кухня №{i}", Decimal("75000.10"), stage, seller=seller,
                        at=clock.now())
            enrollment = Enrollment.objects.filter(contact=contact, chain=chain).first() or (
                Enrollment.objects.create(business=business, contact=contact, chain=chain,
                                          step=step, state="ended", enrolled_at=clock.now())
            )
            Touch.objects.create(
                business=business, enrollment=enrollment, step=step, contact=contact,
                channel="email", to=f"{tag}@example.com", status=TouchStatus.DELIVERED,
                idempotency_key=f"t{enrollment.pk}-{step.pk}-{tag}",
                provider_message_id=f"secret-provider-id-{tag}",
                subject="Анна, новость", created_at=clock.now(), sent_at=clock.now(),
                updated_at=clock.now() + timedelta(minutes=3),
                body=("Добрый день!\nОтписаться: https://kasatka.example/u/SIGNEDTOKEN"
                      f"{tag}/ " + "текст " * 100),
            )
            made.append(Contact.objects.get(pk=contact.pk))
    return made


def done_export(business: Business, kind: str = "contacts", fmt: str = "csv") -> ExportJob:
    """A finished export of the business made by its owner (the authorisation world's)."""
    owner = User.objects.filter(business=business, role=Role.OWNER).first()
    if owner is None:
        owner = User.objects.create_user(f"owner-{business.slug}", business=business,
                                         role=Role.OWNER)
    job = ExportJob.objects.create(business=business, requested_by=owner, kind=kind, format=fmt)
    run_export(job.pk)
    job.refresh_from_db()
    return job

