"""The business's working calendar: its working weekdays, public holidays, its own exceptions.

Waiting times of deals are counted in business days: an invoice sent on the Friday before
a public holiday has not waited over the long weekend.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from .models import Business, BusinessDay


@functools.lru_cache(maxsize=256)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The public days off of a country in a year (the `holidays` package; Russia by default)."""
    if not country:
        return frozenset()
    try:
        return frozenset(holidays.country_holidays(country.upper(), years=year))
    except NotImplementedError:
        return frozenset()  # a country the package does not know: weekdays only


class BusinessCalendar:
    """Which days one business works. Load once per task: one query for its exceptions."""

    def __init__(self, business: Business) -> None:
        self.zone = ZoneInfo(business.time_zone)
        self.country = business.holidays_country
        self.weekdays = frozenset(int(c) for c in business.working_weekdays or "12345")
        self.exceptions: dict[date, bool] = dict(
            BusinessDay.objects.filter(business=business).values_list("date", "is_working")
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.exceptions:
            return self.exceptions[day]
        if day.isoweekday() not in self.weekdays:
            return False
        return day not in public_holidays(self.country, day.year)

    def add_working_days(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (day itself not counted; 0 gives `day`)."""
        if count <= 0:
            return day
        for _ in range(3660):  # ten years: a calendar without working days is a mistake
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
                if count == 0:
                    return day
        raise ValueError("the business calendar has no working days")

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def start_of(self, day: date) -> datetime:
        """Midnight of a local date, as an aware datetime."""
        return datetime.combine(day, time(0), tzinfo=self.zone)

    def after_working_days(self, moment: datetime, count: int) -> datetime:
        """The start of the `count`-th working day after the local date of `moment`."""
        return self.start_of(self.add_working_days(self.local_date(moment), count))
