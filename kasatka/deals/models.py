"""Deals in pipelines of stages, the nudges thrown when one waits on the client, the replies.

METHOD.md §5: a deal in a stage where the next step is the client's decision (price list
sent, invoice sent) waits; when it waits longer than the stage allows it is *stuck*, and
the seller throws a nudge («буравчик»): a short question with a yes or no answer.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class Pipeline(BusinessScoped):
    """A sequence of stages a kind of deal goes through; a business may have several."""

    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["business", "name"], name="pipeline_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class DealStage(models.Model):
    """One stage of a pipeline; `waits_for_client` marks the stages where deals get stuck."""

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(_("name"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"))
    waits_for_client = models.BooleanField(
        _("the next step is the client's decision"), default=False,
        help_text=_("Price list sent, proposal sent, invoice sent: a deal here can get stuck"),
    )
    wait_days = models.PositiveSmallIntegerField(
        _("expected wait, business days"), default=2,
        help_text=_("A deal waiting longer than this is stuck and gets a nudge"),
    )
    next_step = models.CharField(
        _("when the client says yes"), max_length=300, blank=True,
        help_text=_("The seller's task after a yes, e.g. “Issue the invoice”"),
    )

    class Meta:
        verbose_name = _("deal stage")
        verbose_name_plural = _("deal stages")
        ordering = ["pipeline", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["pipeline", "position"], name="deal_stage_unique_position"
            )
        ]

    def __str__(self) -> str:
        return self.name


class DealStatus(models.TextChoices):
    OPEN = "open", _("open")
    WON = "won", _("won")
    LOST = "lost", _("lost")


class Deal(BusinessScoped):
    """A sale in progress: who, what, how much, and where it stands."""

    pipeline = models.ForeignKey(
        Pipeline, verbose_name=_("pipeline"), on_delete=models.RESTRICT, related_name="deals"
    )
    stage = models.ForeignKey(
        DealStage, verbose_name=_("stage"), on_delete=models.RESTRICT, related_name="deals"
    )
    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.CASCADE,
        related_name="deals",
    )
    seller = models.ForeignKey(
        "accounts.User", verbose_name=_("seller"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="deals",
    )
    title = models.CharField(_("subject"), max_length=300)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2, default=0)
    status = models.CharField(
        _("status"), max_length=5, choices=DealStatus.choices, default=DealStatus.OPEN
    )
    loss_reason = models.ForeignKey(
        "sales.LossReason", verbose_name=_("loss reason"), on_delete=models.RESTRICT,
        null=True, blank=True, related_name="+",
    )
    loss_note = models.CharField(_("loss note"), max_length=500, blank=True)
    stage_entered_at = models.DateTimeField(_("in the stage since"), default=timezone.now)
    stuck_since = models.DateTimeField(
        _("stuck since"), null=True, blank=True,
        help_text=_("Set when the deal waited on the client longer than its stage allows"),
    )
    next_nudge_at = models.DateTimeField(
        _("next nudge"), null=True, blank=True,
        help_text=_("When the deal is looked at again: stuck, the next nudge, a new date"),
    )
    nudges_in_stage = models.PositiveSmallIntegerField(_("nudges in this stage"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [
            # The seller's plan: their open deals by stage.
            models.Index(
                fields=["business", "seller", "stage"], condition=Q(status="open"),
                name="deal_open_by_seller",
            ),
            models.Index(
                fields=["business", "stage", "amount"], condition=Q(status="open"),
                name="deal_open_by_stage",
            ),
            # Stuck deals by seller and stage, with their amounts: read from the index alone.
            # (status and stuck_since are in it too: SQLite reads an index alone only if
            # it has every column the query names, its condition's included.)
            models.Index(
                fields=["business", "seller", "stage", "amount", "status", "stuck_since"],
                condition=Q(status="open", stuck_since__isnull=False),
                name="deal_stuck_by_seller",
            ),
            # The trigger's poll, as the engine's: only deals with something due.
            models.Index(
                fields=["next_nudge_at"],
                condition=Q(status="open", next_nudge_at__isnull=False),
                name="deal_nudge_due",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == DealStatus.OPEN

    def clean(self) -> None:
        if self.stage_id and self.pipeline_id and self.stage.pipeline_id != self.pipeline_id:
            raise ValidationError({"stage": _("The stage belongs to another pipeline.")})


class DealStageChange(BusinessScoped):
    """The history of a deal: every move between stages, and its end."""

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        DealStage, verbose_name=_("from"), on_delete=models.RESTRICT, null=True, blank=True,
        related_name="+",
    )
    to_stage = models.ForeignKey(
        DealStage, verbose_name=_("to"), on_delete=models.RESTRICT, related_name="+"
    )
    status = models.CharField(_("status"), max_length=5, choices=DealStatus.choices)
    at = models.DateTimeField(_("when"), default=timezone.now)
    by = models.ForeignKey(
        "accounts.User", verbose_name=_("by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    reason = models.CharField(_("why"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("deal stage change")
        verbose_name_plural = _("deal stage changes")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.from_stage_id} → {self.to_stage_id} ({self.status})"


def validate_nudge_text(value: str) -> None:
    from kasatka.chains.templating import TemplateError, validate_template

    try:
        validate_template(value)
    except TemplateError as exc:
        raise ValidationError(str(exc)) from exc


class NudgeTemplate(BusinessScoped):
    """A good yes/no question for a stage, with the deal's and the contact's variables."""

    stage = models.ForeignKey(
        DealStage, verbose_name=_("stage"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="nudge_templates", help_text=_("Empty: for any stage"),
    )
    language = models.CharField(_("language"), max_length=8, default="ru")
    name = models.CharField(_("name"), max_length=200)
    text = models.TextField(
        _("text"), validators=[validate_nudge_text],
        help_text=_("What we want + yes or no: «{{ contact.greeting }} Заказ в силе?»"),
    )
    position = models.PositiveSmallIntegerField(
        _("order of use"), default=0,
        help_text=_("The first nudge of a stage uses the first template, the second the next…"),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("nudge template")
        verbose_name_plural = _("nudge templates")
        ordering = ["stage", "language", "position", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A broken template is refused however it is saved: it must never reach a client.
        self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)


class NudgeState(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    THROWN = "thrown", _("thrown")
    ANSWERED = "answered", _("answered")
    UNANSWERED = "unanswered", _("unanswered")
    CANCELLED = "cancelled", _("cancelled")


class NudgeMode(models.TextChoices):
    MESSAGE = "message", _("message")
    CALL = "call", _("call")


class Answer(models.TextChoices):
    """What a client's reply to a nudge says (kasatka.deals.classify)."""

    YES = "yes", _("yes")
    NO = "no", _("no")
    DATE = "date", _("new date")
    OTHER = "other", _("other")


class Nudge(BusinessScoped):
    """One yes/no question about a stuck deal: proposed, thrown (by the seller or on its
    own), answered or not."""

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="nudges"
    )
    stage = models.ForeignKey(
        DealStage, verbose_name=_("stage"), on_delete=models.RESTRICT, related_name="+"
    )
    seller = models.ForeignKey(
        "accounts.User", verbose_name=_("seller"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="nudges",
    )
    template = models.ForeignKey(
        NudgeTemplate, verbose_name=_("template"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="nudges",
    )
    number = models.PositiveSmallIntegerField(_("number in the stage"), default=1)
    text = models.TextField(_("text"), blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=NudgeState.choices, default=NudgeState.PROPOSED
    )
    mode = models.CharField(_("thrown as"), max_length=7, choices=NudgeMode.choices, blank=True)
    channel = models.CharField(
        _("preferred channel"), max_length=10, blank=True,
        help_text=_("Tried first: the channel the client last wrote on; then the usual order"),
    )
    proposed_at = models.DateTimeField(_("proposed"), default=timezone.now)
    thrown_at = models.DateTimeField(_("thrown"), null=True, blank=True)
    thrown_by = models.ForeignKey(
        "accounts.User", verbose_name=_("thrown by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+", help_text=_("Empty with a time: thrown automatically"),
    )
    enrollment = models.OneToOneField(
        "chains.Enrollment", verbose_name=_("sent as"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="nudge",
    )
    call_task = models.OneToOneField(
        "calls.CallTask", verbose_name=_("call task"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="nudge",
    )
    answer = models.CharField(_("answer"), max_length=5, choices=Answer.choices, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("nudge")
        verbose_name_plural = _("nudges")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            # One question at a time: a deal has at most one nudge waiting to be thrown.
            models.UniqueConstraint(
                fields=["deal"], condition=Q(state="proposed"), name="nudge_one_proposed"
            )
        ]
        indexes = [
            # The plan's list of nudges to throw, oldest first: read in index order.
            models.Index(
                fields=["business", "seller", "proposed_at", "id"],
                condition=Q(state="proposed"), name="nudge_to_throw",
            ),
            # Their count by seller and stage, from the index alone.
            models.Index(
                fields=["business", "seller", "stage", "proposed_at", "state"],
                condition=Q(state="proposed"), name="nudge_to_throw_by_stage",
            ),
            models.Index(fields=["business", "thrown_at"], name="nudge_thrown"),
        ]

    def __str__(self) -> str:
        return f"{self.deal_id} #{self.number} ({self.state})"

    @property
    def touch(self) -> Any:
        """The message the engine made of it (its channel and delivery status), if any."""
        from kasatka.chains.models import Touch

        if self.enrollment_id is None:
            return None
        return Touch.objects.filter(enrollment_id=self.enrollment_id).order_by("id").first()


class ReplySource(models.TextChoices):
    MESSAGE = "message", _("the client's message")
    SELLER = "seller", _("recorded by the seller")


class DealReply(BusinessScoped):
    """A client's answer to a nudge, as read by Kasatka and as corrected by the seller.

    Corrections are kept: `predicted` beside `answer` is labelled data for the classifier.
    """

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="replies"
    )
    nudge = models.ForeignKey(
        Nudge, verbose_name=_("nudge"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="replies",
    )
    message = models.OneToOneField(
        "channels.InboundMessage", verbose_name=_("message"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="deal_reply",
    )
    source = models.CharField(
        _("source"), max_length=7, choices=ReplySource.choices, default=ReplySource.MESSAGE
    )
    text = models.TextField(_("text"), blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    predicted = models.CharField(_("read as"), max_length=5, choices=Answer.choices, blank=True)
    predicted_date = models.DateField(_("date read"), null=True, blank=True)
    answer = models.CharField(_("answer"), max_length=5, choices=Answer.choices)
    answer_date = models.DateField(_("new date"), null=True, blank=True)
    corrected_by = models.ForeignKey(
        "accounts.User", verbose_name=_("corrected by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    corrected_at = models.DateTimeField(_("corrected"), null=True, blank=True)
    # Where the deal stood before the answer moved it: a correction goes back to here.
    stage_before = models.ForeignKey(
        DealStage, on_delete=models.RESTRICT, null=True, blank=True, related_name="+"
    )
    status_before = models.CharField(max_length=5, choices=DealStatus.choices, blank=True)
    next_nudge_before = models.DateTimeField(null=True, blank=True)
    nudges_before = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("reply to a nudge")
        verbose_name_plural = _("replies to nudges")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.deal_id}: {self.answer}"

    @property
    def was_corrected(self) -> bool:
        return self.corrected_at is not None


class TaskKind(models.TextChoices):
    NEXT_STEP = "next_step", _("next step")
    REPLY = "reply", _("answer the client")


class DealTask(BusinessScoped):
    """Something the seller has to do on a deal (calls are call tasks, in the call queue)."""

    deal = models.ForeignKey(
        Deal, verbose_name=_("deal"), on_delete=models.CASCADE, related_name="tasks"
    )
    seller = models.ForeignKey(
        "accounts.User", verbose_name=_("seller"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="deal_tasks",
    )
    reply = models.ForeignKey(
        DealReply, verbose_name=_("reply"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="tasks",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=TaskKind.choices)
    title = models.CharField(_("task"), max_length=500)
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    cancelled = models.BooleanField(_("cancelled"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("deal task")
        verbose_name_plural = _("deal tasks")
        indexes = [
            models.Index(
                fields=["business", "seller", "due_at"], condition=Q(done_at__isnull=True),
                name="deal_task_open",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.done_at is None


class PlanFigures(BusinessScoped):
    """The slow figures of the daily plan, measured once a day per business.

    The nudge→order conversion and the average open deal per stage move slowly and cost a
    scan of the business's nudges and deals; the plan reads them from here, measured on
    the first plan of the business's day (or by the trigger), so that every seller's plan
    stays a handful of indexed reads.
    """

    day = models.DateField(_("measured on"))
    settled = models.PositiveIntegerField(_("settled nudges"), default=0)
    converted = models.PositiveIntegerField(_("nudges that brought an order"), default=0)
    averages = models.JSONField(_("average open deal per stage"), default=dict)

    class Meta:
        verbose_name = _("plan figures")
        verbose_name_plural = _("plan figures")
        constraints = [
            models.UniqueConstraint(fields=["business"], name="plan_figures_one_per_business")
        ]

    def __str__(self) -> str:
        return f"{self.business_id} {self.day}"
