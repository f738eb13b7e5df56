"""Template helpers of the UI: money in the locale's format."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils import formats, translation

register = template.Library()

# The sign of each currency a business may keep its books in.
SYMBOLS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "BYN": "Br", "UAH": "₴"}


@register.filter
def money(value: object, currency: str = "RUB") -> str:
    """75000 → «75 000 ₽» in Russian, «₽75,000» in English; kopecks only when there are any."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    places = 0 if amount == amount.to_integral_value() else 2
    number = formats.number_format(amount, places, use_l10n=True, force_grouping=True)
    sign = SYMBOLS.get(currency, currency)
    if translation.get_language() == "en" and len(sign) == 1:
        return f"{number[:1]}{sign}{number[1:]}" if number.startswith("-") else f"{sign}{number}"
    return f"{number}\u00a0{sign}"


@register.filter
def minutes(value: object) -> int:
    """A timedelta in whole minutes, rounded up (the lock-out page's wait)."""
    seconds = getattr(value, "total_seconds", lambda: 0)()
    return max(1, -(-int(seconds) // 60)) if seconds else 0
