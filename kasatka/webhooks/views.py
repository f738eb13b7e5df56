"""The owner's pages: subscriptions, their secret and test button, the delivery log."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kasatka.accounts.access import business_of, needs, user_of

from . import actions
from .forms import EditSubscriptionForm, SubscriptionForm
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription

# Rows of the delivery log per page.
LOG_PAGE = 50


def _own(request: HttpRequest, queryset: QuerySet[Any], pk: int) -> Any:
    """A row of the user's business, else 404 (another business's id is not confirmed)."""
    row = queryset.filter(business=business_of(request.user), pk=pk).first()
    if row is None:
        raise Http404
    return row


def _apply(request: HttpRequest, form: Any, write: Any) -> bool:
    if not form.is_valid():
        return False
    try:
        write()
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return False
    return True


@needs("integrations")
def subscriptions(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = SubscriptionForm(request.POST or None)
    made: list[WebhookSubscription] = []
    if request.method == "POST" and _apply(request, form, lambda: made.append(
        actions.create_subscription(
            own, form.cleaned_data["url"], form.cleaned_data["event_types"],
            form.cleaned_data["name"], by=user_of(request),
        )
    )):
        messages.success(request, _("Saved. Copy the signing secret to your receiver."))
        return redirect("webhooks:detail", pk=made[0].pk)
    rows = WebhookSubscription.objects.filter(business=own).order_by("pk")
    return render(
        request, "webhooks/subscriptions.html", {"subscriptions": rows, "form": form},
        status=400 if form.errors else 200,
    )


@needs("integrations")
def subscription(request: HttpRequest, pk: int) -> HttpResponse:
    sub: WebhookSubscription = _own(request, WebhookSubscription.objects.all(), pk)
    form = EditSubscriptionForm(request.POST or None, initial={
        "name": sub.name, "url": sub.url, "event_types": sub.event_types,
        "is_active": sub.is_active,
    })
    if request.method == "POST" and _apply(request, form, lambda: actions.update_subscription(
        sub, url=form.cleaned_data["url"], event_types=form.cleaned_data["event_types"],
        name=form.cleaned_data["name"], is_active=form.cleaned_data["is_active"],
    )):
        messages.success(request, _("Saved."))
        return redirect("webhooks:detail", pk=sub.pk)
    deliveries = sub.deliveries.select_related("event").order_by("-pk")
    status = request.GET.get("status", "")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    before = request.GET.get("before", "")
    if before.isdigit():
        deliveries = deliveries.filter(pk__lt=int(before))
    page = list(deliveries[: LOG_PAGE + 1])
    return render(request, "webhooks/subscription.html", {
        "sub": sub, "form": form, "deliveries": page[:LOG_PAGE],
        "older": page[LOG_PAGE - 1].pk if len(page) > LOG_PAGE else None,
        "status": status, "statuses": DeliveryStatus.choices,
    }, status=400 if form.errors else 200)


@needs("integrations")
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _own(request, WebhookSubscription.objects.all(), pk)
    actions.delete_subscription(sub)
    messages.success(request, _("Removed."))
    return redirect("webhooks:list")


@needs("integrations")
@require_POST
def send_test(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _own(request, WebhookSubscription.objects.all(), pk)
    try:
        actions.send_test(sub)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("A test event is on its way; its delivery is below."))
    return redirect("webhooks:detail", pk=sub.pk)


@needs("integrations")
@require_POST
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _own(request, WebhookSubscription.objects.all(), pk)
    if sub.paused_at is None:
        actions.pause(sub, _("Paused by %(name)s") % {"name": user_of(request)})
        messages.success(request, _("Paused: events are kept and wait for you to resume."))
    return redirect("webhooks:detail", pk=sub.pk)


@needs("integrations")
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _own(request, WebhookSubscription.objects.all(), pk)
    if sub.paused_at is not None:
        count = actions.resume(sub)
        messages.success(request, _("Resumed: %(count)s held events are sent now.")
                         % {"count": count})
    return redirect("webhooks:detail", pk=sub.pk)


@needs("integrations")
@require_POST
def rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    sub = _own(request, WebhookSubscription.objects.all(), pk)
    actions.rotate_secret(sub)
    messages.success(request, _("A new signing secret: put it into your receiver now."))
    return redirect("webhooks:detail", pk=sub.pk)


@needs("integrations")
def delivery(request: HttpRequest, pk: int) -> HttpResponse:
    row: WebhookDelivery = _own(
        request, WebhookDelivery.objects.select_related("event", "subscription"), pk
    )
    return render(request, "webhooks/delivery.html", {
        "delivery": row, "attempts": row.attempt_log.all()[:100],
    })


@needs("integrations")
@require_POST
def resend(request: HttpRequest, pk: int) -> HttpResponse:
    row: WebhookDelivery = _own(
        request, WebhookDelivery.objects.select_related("subscription"), pk
    )
    try:
        actions.resend(row)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Queued to be sent again."))
    return redirect("webhooks:delivery", pk=row.pk)
