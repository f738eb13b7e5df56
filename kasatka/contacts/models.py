"""Contacts, their addresses per channel and the append-only consent history."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped, validate_time_zone


class Channel(models.TextChoices):
    """Ways a touch reaches a person; consent is given per channel."""

    EMAIL = "email", _("e-mail")
    SMS = "sms", _("SMS")
    CALL = "call", _("phone call")
    TELEGRAM = "telegram", _("Telegram")
    WHATSAPP = "whatsapp", _("WhatsApp")
    VIBER = "viber", _("Viber")
    VK = "vk", _("VK")
    LETTER = "letter", _("printed letter")


class AddressKind(models.TextChoices):
    """What an address is: one e-mail box, one phone number, one chat…"""

    EMAIL = "email", _("e-mail")
    PHONE = "phone", _("phone")
    TELEGRAM = "telegram", _("Telegram chat")
    WHATSAPP = "whatsapp", _("WhatsApp")
    VIBER = "viber", _("Viber")
    VK = "vk", _("VK")
    POSTAL = "postal", _("postal address")


# Which kind of address each channel delivers to.
CHANNEL_ADDRESS_KIND: dict[str, str] = {
    Channel.EMAIL: AddressKind.EMAIL,
    Channel.SMS: AddressKind.PHONE,
    Channel.CALL: AddressKind.PHONE,
    Channel.TELEGRAM: AddressKind.TELEGRAM,
    Channel.WHATSAPP: AddressKind.WHATSAPP,
    Channel.VIBER: AddressKind.VIBER,
    Channel.VK: AddressKind.VK,
    Channel.LETTER: AddressKind.POSTAL,
}


class Gender(models.TextChoices):
    UNKNOWN = "", _("unknown")
    MALE = "male", _("male")
    FEMALE = "female", _("female")


class Stage(models.TextChoices):
    """Where the client is in the funnel (METHOD.md §4)."""

    LEAD = "lead", _("lead")
    NEW = "new", _("new client")
    REGULAR = "regular", _("regular client")
    ADEPT = "adept", _("adept")


class NeedsFit(models.TextChoices):
    UNKNOWN = "", _("not asked yet")
    FITS = "fits", _("we can deliver what they need")
    PARTLY = "partly", _("partly")
    NO = "no", _("not what we do")


class Readiness(models.TextChoices):
    """How far in their decision the client is (the qualification card, METHOD.md §4)."""

    UNKNOWN = "", _("unknown")
    LOOKING = "looking", _("just looking")
    COMPARING = "comparing", _("comparing offers")
    DECIDING = "deciding", _("about to decide")
    READY = "ready", _("ready to buy")


class Contact(BusinessScoped):
    """A person the business sells to."""

    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    patronymic = models.CharField(_("patronymic"), max_length=100, blank=True)
    gender = models.CharField(
        _("gender"),
        max_length=6,
        choices=Gender.choices,
        blank=True,
        help_text=_("Left empty, it is inferred from the patronymic or name."),
    )
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    company = models.CharField(_("company"), max_length=200, blank=True)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text=_("Empty: inferred from the phone number, else the business's zone."),
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("seller"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
    )
    stage = models.CharField(_("stage"), max_length=10, choices=Stage.choices, default=Stage.LEAD)
    is_discount_lover = models.BooleanField(_("discount lover"), default=False)
    is_impulsive = models.BooleanField(_("impulsive"), default=False)
    is_marked_adept = models.BooleanField(
        _("marked as an adept"), default=False,
        help_text=_("A seller knows they recommend us, though no referral is recorded"),
    )
    # The qualification card (METHOD.md §4): filled at the visit or later.
    needs_fit = models.CharField(
        _("needs fit"), max_length=8, choices=NeedsFit.choices, blank=True
    )
    readiness = models.CharField(
        _("how far in the decision"), max_length=10, choices=Readiness.choices, blank=True
    )
    needs = models.TextField(_("needs"), blank=True, help_text=_("Deadlines, volumes, tasks"))
    knows_about_us = models.TextField(_("what they know about us"), blank=True)
    came_because = models.TextField(_("why they came to us"), blank=True)
    source = models.ForeignKey(
        "sales.LeadSource",
        verbose_name=_("source"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [models.Index(fields=["business", "last_name", "first_name"])]

    def __str__(self) -> str:
        return self.full_name or f"#{self.pk}"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.gender:
            from .names import infer_gender

            self.gender = infer_gender(self.first_name, self.patronymic, self.last_name)
        super().save(*args, **kwargs)


class AddressState(models.TextChoices):
    ACTIVE = "active", _("active")
    UNVERIFIED = "unverified", _("unverified")
    BOUNCED = "bounced", _("bounced")
    BLOCKED = "blocked", _("blocked")


class Address(BusinessScoped):
    """One way to reach a contact: an e-mail box, a phone number, a chat, a postal address."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="addresses"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AddressKind.choices)
    value = models.CharField(
        _("value"), max_length=500, help_text=_("Normalised: E.164 phones, lower-case domains")
    )
    state = models.CharField(
        _("state"), max_length=10, choices=AddressState.choices, default=AddressState.ACTIVE
    )
    state_reason = models.CharField(_("reason of the state"), max_length=500, blank=True)
    state_changed_at = models.DateTimeField(_("state changed"), null=True, blank=True)
    is_primary = models.BooleanField(_("primary"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(fields=["contact", "kind", "value"], name="address_unique")
        ]
        indexes = [models.Index(fields=["business", "kind", "value"], name="address_lookup")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    @property
    def is_usable(self) -> bool:
        return self.state in (AddressState.ACTIVE, AddressState.UNVERIFIED)


class Purpose(models.TextChoices):
    COMMERCIAL = "commercial", _("commercial")
    INFORMATIONAL = "informational", _("informational")


class ConsentStatus(models.TextChoices):
    GRANTED = "granted", _("granted")
    WITHDRAWN = "withdrawn", _("withdrawn")
    # Double opt-in: given on a form, waiting for the contact to confirm it by the link.
    PENDING = "pending", _("waiting for confirmation")


class ConsentBasis(models.TextChoices):
    FORM = "form", _("web form")
    VISIT = "visit", _("given at a visit")
    PURCHASE = "purchase", _("given at a purchase")
    IMPORT = "import", _("import")
    VERBAL = "verbal", _("verbal")
    UNSUBSCRIBE = "unsubscribe", _("unsubscribe link")
    ONE_CLICK = "one_click", _("one-click unsubscribe (RFC 8058)")
    REPLY = "reply", _("reply of the contact")
    MESSENGER = "messenger", _("subscribed through the messenger link")
    STAFF = "staff", _("changed by staff")
    CONFIRMED = "confirmed", _("confirmed by the link (double opt-in)")
    PREFERENCES = "preferences", _("the contact's preference page")
    API = "api", _("API")


class Consent(BusinessScoped):
    """One entry of a contact's consent history; the newest per channel and purpose wins."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="consents"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=14, choices=Purpose.choices)
    status = models.CharField(_("status"), max_length=10, choices=ConsentStatus.choices)
    basis = models.CharField(_("basis"), max_length=12, choices=ConsentBasis.choices)
    source = models.CharField(
        _("source"), max_length=300, blank=True, help_text=_("Where: a form, a touch, a person")
    )
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        indexes = [models.Index(fields=["contact", "channel", "purpose", "-recorded_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.channel}/{self.purpose}: {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # History is evidence: an entry is never rewritten, a change is a new entry.
        if self.pk is not None:
            raise ValueError("Consent entries are append-only; record a new one instead.")
        super().save(*args, **kwargs)


class SuppressionReason(models.TextChoices):
    BOUNCED = "bounced", _("bounced")
    COMPLAINED = "complained", _("complained (marked as spam)")
    BLOCKED = "blocked", _("blocked us")
    WITHDRAWN = "withdrawn", _("withdrew consent")
    MANUAL = "manual", _("added by staff")


class Suppression(BusinessScoped):
    """An address (any contact's) or a contact that nothing may be sent to.

    Only a new recorded consent lifts it (kasatka.contacts.suppression): an import or the
    API cannot silently put a bounced or unsubscribed address back on the list.
    """

    kind = models.CharField(_("kind"), max_length=10, choices=AddressKind.choices, blank=True)
    value = models.CharField(
        _("address"), max_length=500, blank=True, help_text=_("Normalised, as addresses are")
    )
    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="suppressions", help_text=_("Set: the whole contact is suppressed"),
    )
    reason = models.CharField(_("reason"), max_length=10, choices=SuppressionReason.choices)
    note = models.CharField(_("note"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("suppressed"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)
    lift_reason = models.CharField(_("lifted because"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppression list")
        constraints = [
            models.UniqueConstraint(
                fields=["business", "kind", "value"],
                condition=models.Q(lifted_at__isnull=True) & ~models.Q(value=""),
                name="suppression_one_active_per_address",
            ),
            models.UniqueConstraint(
                fields=["contact"],
                condition=models.Q(lifted_at__isnull=True, contact__isnull=False, value=""),
                name="suppression_one_active_per_contact",
            ),
            models.CheckConstraint(
                condition=~models.Q(value="") | models.Q(contact__isnull=False),
                name="suppression_address_or_contact",
            ),
        ]
        indexes = [
            models.Index(
                fields=["business", "kind", "value"], condition=models.Q(lifted_at__isnull=True),
                name="suppression_active",
            )
        ]

    def __str__(self) -> str:
        target = f"{self.kind}:{self.value}" if self.value else f"contact {self.contact_id}"
        return f"{target} ({self.reason})"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class StageChange(BusinessScoped):
    """One move of a contact between funnel stages or side types, with its cause."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE,
        related_name="stage_changes",
    )
    field = models.CharField(
        _("what changed"), max_length=20, default="stage",
        help_text=_("stage, is_discount_lover or is_impulsive"),
    )
    old = models.CharField(_("from"), max_length=20, blank=True)
    new = models.CharField(_("to"), max_length=20)
    cause = models.CharField(_("cause"), max_length=300)
    changed_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        indexes = [models.Index(fields=["contact", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.field}: {self.old} → {self.new}"
