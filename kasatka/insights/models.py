"""Per-client churn risk and the per-business BG/NBD model it is scored with."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class ChurnModel(BusinessScoped):
    """The business's BG/NBD parameters (time in weeks) and what the last scoring saw.

    The parameters are empty when there was too little history to fit them; `note` says why.
    """

    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField("α", null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    log_likelihood = models.FloatField(_("log-likelihood"), null=True, blank=True)
    customers = models.PositiveIntegerField(_("clients with purchases"), default=0)
    repeat_buyers = models.PositiveIntegerField(_("clients who bought again"), default=0)
    note = models.CharField(_("note"), max_length=300, blank=True)
    fitted_at = models.DateTimeField(_("fitted"), default=timezone.now)
    fitted_for = models.DateField(
        _("fitted for the day"), help_text=_("The business's date the model was fitted on")
    )
    settings_key = models.CharField(
        _("settings used"), max_length=100, blank=True,
        help_text=_("The lapse settings the clients were scored with: a change rescoring them"),
    )
    purchases_seen = models.BigIntegerField(
        _("last purchase scored"), default=0,
        help_text=_("Purchases with a higher id are new since the last scoring"),
    )

    class Meta:
        verbose_name = _("churn model")
        verbose_name_plural = _("churn models")
        constraints = [
            models.UniqueConstraint(fields=["business"], name="churn_model_one_per_business")
        ]

    def __str__(self) -> str:
        if self.r is None:
            return f"{self.business_id}: {self.note}"
        return (
            f"{self.business_id}: r={self.r:.3f} α={self.alpha:.3f} a={self.a:.3f} "
            f"b={self.b:.3f}"
        )

    @property
    def is_fitted(self) -> bool:
        return self.r is not None


class ClientRisk(BusinessScoped):
    """One client's rhythm, chance of still being a client, and whether they have lapsed.

    A lapse is flagged once per last purchase: `flagged_for` holds the last purchase the
    client had when it was flagged, so a client who comes back and lapses again is flagged
    again, and a repeated check is harmless.
    """

    contact = models.OneToOneField(
        "contacts.Contact", verbose_name=_("client"), on_delete=models.CASCADE,
        related_name="risk",
    )
    purchase_days = models.PositiveIntegerField(_("days with a purchase"))
    first_purchase_at = models.DateTimeField(_("first purchase"))
    last_purchase_at = models.DateTimeField(_("last purchase"))
    average_order = models.DecimalField(
        _("average purchase"), max_digits=12, decimal_places=2,
        help_text=_("Spent per day with a purchase"),
    )
    usual_gap = models.DurationField(
        _("usual gap"), null=True, blank=True,
        help_text=_("The median time between the client's purchase days"),
    )
    lapse_after = models.DurationField(
        _("lapsed after"), null=True, blank=True,
        help_text=_("Empty: too few purchases to lapse"),
    )
    lapse_at = models.DateTimeField(_("lapses at"), null=True, blank=True, db_index=True)
    p_alive = models.FloatField(
        _("probability still a client"), null=True, blank=True,
        help_text=_("BG/NBD; empty when the business has too little history to fit it"),
    )
    expected_purchases = models.FloatField(
        _("expected purchases"), null=True, blank=True,
        help_text=_("In the business's regular period, from the BG/NBD model"),
    )
    value_at_risk = models.DecimalField(
        _("value at risk"), max_digits=14, decimal_places=2, default=0,
    )
    flagged_for = models.DateTimeField(
        _("lapse flagged for the purchase of"), null=True, blank=True,
    )
    lapsed_since = models.DateTimeField(_("flagged as lapsed"), null=True, blank=True)
    call_task = models.ForeignKey(
        "calls.CallTask", verbose_name=_("call"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        verbose_name = _("client risk")
        verbose_name_plural = _("client risks")
        indexes = [models.Index(fields=["business", "-value_at_risk"], name="risk_by_value")]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.value_at_risk}"

    @property
    def is_lapsed(self) -> bool:
        return self.flagged_for is not None and self.flagged_for == self.last_purchase_at


class Journey(BusinessScoped):
    """A rollup of one contact's way to the first purchase, for the "touches before purchase"
    figures of a big book (docs/insights.md): rebuilt in the background by
    `insights.journey.refresh_step`, and read instead of the touches when it is complete.

    Each value is what `insights.touches` computes from the touches and purchases, as of
    the rebuild that wrote it.
    """

    contact = models.OneToOneField(
        "contacts.Contact", on_delete=models.CASCADE, primary_key=True, related_name="journey",
    )
    first_purchase_at = models.DateTimeField(null=True)
    touches_before = models.PositiveIntegerField(default=0)  # reached, taken → first purchase
    warming_ended_at = models.DateTimeField(null=True)  # the last warming enrollment's end
    warming_live = models.BooleanField(default=False)  # a warming enrollment still runs
    warming_touches = models.PositiveIntegerField(default=0)  # reached, of warming chains

    class Meta:
        indexes = [
            models.Index(fields=["business", "first_purchase_at"], name="journey_first_buy"),
            models.Index(fields=["business", "warming_ended_at"], name="journey_warming_end"),
        ]


class JourneyChannel(BusinessScoped):
    """Touches before the first purchase of one contact, per channel (see `Journey`)."""

    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="+",
    )
    first_purchase_at = models.DateTimeField()
    channel = models.CharField(max_length=10)
    touches = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["business", "first_purchase_at"], name="journey_channel_buy"),
        ]


class JourneyRebuild(BusinessScoped):
    """Where the background rebuild of a business's journeys is, and the last complete one.

    A rebuild walks the contacts by id in chunks; rows of a contact are replaced in one
    transaction, so a reader sees a contact's old or new rows, never half. `complete_as_of`
    is the start of the last rebuild that reached the end: the figures are as of then.
    """

    started_at = models.DateTimeField(null=True)
    cursor = models.BigIntegerField(default=0)  # the last contact id done in this rebuild
    complete_as_of = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["business"], name="journey_rebuild_one_per_business")
        ]


class TouchDay(BusinessScoped):
    """The touches sent on one day of the business (in its time zone), per step, channel
    and status: the "sent" counts of "which touches sell" for a big book (docs/insights.md),
    recomputed at the end of each complete rebuild of the journeys (`insights.journey`).
    """

    day = models.DateField()  # the business's date of `Touch.sent_at`
    step = models.ForeignKey("chains.Step", on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=10)
    status = models.CharField(max_length=12)
    touches = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["business", "day"], name="touch_day_by_day")]
