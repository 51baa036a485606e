"""Cron expressions (five fields, in a time zone) and fixed intervals: when a schedule ticks.

Supported: ``minute hour day-of-month month day-of-week`` with ``*``,
numbers, ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b,c``, month
names (``jan``..``dec``) and day names (``sun``..``sat``; 0 and 7 are both
Sunday), and the macros ``@yearly`` (``@annually``), ``@monthly``,
``@weekly``, ``@daily`` (``@midnight``) and ``@hourly``. As in Vixie cron,
when both day fields are restricted a day matches if either does.

Times are wall-clock times in the schedule's IANA time zone: a local time
that does not exist (the hour skipped when DST starts) does not tick, and a
local time that happens twice (when DST ends) ticks once, at its first
occurrence.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

__all__ = ("CronExpression", "InvalidSchedule", "interval_tick_at_or_before", "time_zone")

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_YEARS = 5


class InvalidSchedule(ValueError):
    """A cron expression, time zone or interval is not valid; the message says which part."""


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone `name`.

    Raises:
        InvalidSchedule: no such time zone.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"unknown time zone {name!r} (use an IANA name such as 'Europe/Paris')"
        ) from None


def _value(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if names is _MONTHS else 0)
    if not text.isdigit():
        raise InvalidSchedule(f"{field}: {text!r} is not a number{' or a name' if names else ''}")
    number = int(text)
    if not low <= number <= high:
        raise InvalidSchedule(f"{field}: {number} is outside {low}-{high}")
    return number


def _field(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise InvalidSchedule(f"{field}: empty list item in {text!r}")
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidSchedule(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span == "*":
            start, stop = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start = _value(first, field, low, high, names)
            stop = _value(last, field, low, high, names)
            if start > stop:
                raise InvalidSchedule(f"{field}: range {span!r} runs backwards")
        else:
            start = _value(span, field, low, high, names)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return frozenset(values)


class CronExpression:
    """A parsed five-field cron expression; `next_after` finds its next tick in a time zone."""

    def __init__(self, text: str) -> None:
        """Parse `text`.

        Raises:
            InvalidSchedule: the expression is malformed; the message names the field.
        """
        self.text = text
        expanded = _MACROS.get(text.strip().lower(), text)
        parts = expanded.split()
        if len(parts) != len(_FIELDS):
            raise InvalidSchedule(
                f"a cron expression has 5 fields (minute hour day-of-month month day-of-week),"
                f" {text!r} has {len(parts)}"
            )
        sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        self.minutes, self.hours, self.days, self.months, weekdays = sets
        self.weekdays = frozenset(d % 7 for d in weekdays)
        self._any_day = parts[2] == "*"
        self._any_weekday = parts[4] == "*"

    def _day_matches(self, day: dt.date) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self._any_day and self._any_weekday:
            return True
        if self._any_day:
            return in_week
        if self._any_weekday:
            return in_month
        return in_month or in_week

    def next_after(self, after: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
        """The first tick strictly after the aware instant `after`, as an aware UTC datetime.

        Raises:
            InvalidSchedule: the expression never ticks (e.g. ``0 0 31 2 *``).
        """
        local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
        candidate = local + dt.timedelta(minutes=1)
        limit = local + dt.timedelta(days=366 * _SEARCH_YEARS)
        while candidate < limit:
            if candidate.month not in self.months:
                year, month = divmod(candidate.month, 12)
                candidate = dt.datetime(candidate.year + year, month + 1, 1)
                continue
            if not self._day_matches(candidate.date()):
                candidate = dt.datetime.combine(candidate.date() + dt.timedelta(days=1), dt.time())
                continue
            if candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + dt.timedelta(hours=1)
                continue
            if candidate.minute not in self.minutes:
                candidate += dt.timedelta(minutes=1)
                continue
            instant = candidate.replace(tzinfo=zone)
            exists = instant.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) == candidate
            utc = instant.astimezone(dt.UTC)
            if exists and utc > after:
                return utc
            candidate += dt.timedelta(minutes=1)
        raise InvalidSchedule(f"{self.text!r} never ticks within {_SEARCH_YEARS} years")

    def latest_at_or_before(
        self, now: dt.datetime, after: dt.datetime, zone: dt.tzinfo
    ) -> dt.datetime | None:
        """The last tick in (`after`, `now`], or None; only the last day-ish is searched densely."""
        start = max(after, now - dt.timedelta(days=1))
        latest = self._last_in(start, now, zone)
        if latest is None and start > after:
            latest = self._last_in(max(after, now - dt.timedelta(days=400)), now, zone)
        return latest

    def _last_in(self, start: dt.datetime, now: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
        latest = None
        tick = self.next_after(start, zone)
        while tick <= now:
            latest = tick
            tick = self.next_after(tick, zone)
        return latest


def interval_tick_at_or_before(
    now: dt.datetime, anchor: dt.datetime, every_seconds: int
) -> dt.datetime | None:
    """The last tick of an interval schedule at or before `now`; ticks are anchor + k * every."""
    if now < anchor:
        return None
    elapsed = (now - anchor) // dt.timedelta(seconds=every_seconds)
    return anchor + elapsed * dt.timedelta(seconds=every_seconds)
