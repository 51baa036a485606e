"""Cron expressions in a time zone, fixed intervals, and the misfire policy."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.triggers.domain import decide_tick, schedule_firing
from shared.contracts.trigger import TriggerDefinition, WebhookAction
from shared.triggers.cron import CronExpression, InvalidSchedule, interval_tick_at_or_before

UTC = dt.UTC
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", "2024-05-01T10:07:00", "2024-05-01T10:15:00"),
        ("0 8 * * 1", "2024-05-01T00:00:00", "2024-05-06T08:00:00"),
        ("0 8 * * mon", "2024-05-06T08:00:00", "2024-05-13T08:00:00"),
        ("30 2 29 2 *", "2024-03-01T00:00:00", "2028-02-29T02:30:00"),
        ("0 0 1,15 * *", "2024-05-02T00:00:00", "2024-05-15T00:00:00"),
        ("0 0 13 * 5", "2024-05-01T00:00:00", "2024-05-03T00:00:00"),
        ("@hourly", "2024-05-01T10:00:00", "2024-05-01T11:00:00"),
        ("0 9-17/4 * jan-mar *", "2024-05-01T00:00:00", "2025-01-01T09:00:00"),
        ("0 0 * * 7", "2024-05-01T00:00:00", "2024-05-05T00:00:00"),
    ],
)
def test_cron_next_tick_in_utc(expression: str, after: str, expected: str) -> None:
    assert CronExpression(expression).next_after(at(after), UTC) == at(expected)


def test_cron_ticks_at_wall_clock_time_in_its_time_zone() -> None:
    monday_8_paris = CronExpression("0 8 * * 1")
    # summer time (UTC+2) and winter time (UTC+1)
    assert monday_8_paris.next_after(at("2024-05-01T00:00:00"), PARIS) == at("2024-05-06T06:00:00")
    assert monday_8_paris.next_after(at("2024-12-01T00:00:00"), PARIS) == at("2024-12-02T07:00:00")


def test_a_time_skipped_by_dst_does_not_tick_and_a_repeated_one_ticks_once() -> None:
    at_2_30 = CronExpression("30 2 * * *")
    # 2024-03-31 02:30 does not exist in Paris; the next tick is the next day
    assert at_2_30.next_after(at("2024-03-30T12:00:00"), PARIS) == at("2024-04-01T00:30:00")
    # 2024-10-27 02:30 happens twice; it ticks at the first one only
    first = at_2_30.next_after(at("2024-10-26T12:00:00"), PARIS)
    assert first == at("2024-10-27T00:30:00")
    assert at_2_30.next_after(first, PARIS) == at("2024-10-28T01:30:00")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "has 5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24"),
        ("* * 0 * *", "day of month: 0"),
        ("* * * 13 *", "month: 13"),
        ("* * * * 8", "day of week: 8"),
        ("*/0 * * * *", "step '0'"),
        ("5-1 * * * *", "runs backwards"),
        ("x * * * *", "minute: 'x' is not a number"),
        ("1,,2 * * * *", "empty list item"),
    ],
)
def test_invalid_cron_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        CronExpression(expression)


def test_a_cron_that_never_ticks_is_refused() -> None:
    with pytest.raises(InvalidSchedule, match="never ticks"):
        CronExpression("0 0 31 2 *").next_after(at("2024-01-01T00:00:00"), UTC)


@given(st.integers(0, 10**6), st.integers(1, 3600))
def test_interval_ticks_are_anchor_plus_multiples(elapsed_ms: int, every: int) -> None:
    anchor = at("2024-01-01T00:00:00")
    now = anchor + dt.timedelta(milliseconds=elapsed_ms)
    tick = interval_tick_at_or_before(now, anchor, every)
    assert tick is not None
    assert anchor <= tick <= now < tick + dt.timedelta(seconds=every)
    assert (tick - anchor).total_seconds() % every == 0


def _every(seconds: int, misfire: str = "skip") -> TriggerDefinition:
    return TriggerDefinition(
        name="t",
        kind="schedule",
        every_seconds=seconds,
        misfire=misfire,  # type: ignore[arg-type]
        action=WebhookAction(url="https://x.example", secret="s" * 16),
    )


def test_the_latest_due_tick_fires_when_on_time() -> None:
    anchor = at("2024-01-01T00:00:00")
    decision = decide_tick(
        _every(60), last=anchor, now=anchor + dt.timedelta(seconds=61), anchor=anchor
    )
    assert decision.tick == anchor + dt.timedelta(seconds=60)
    assert decision.handled_up_to == decision.tick


def test_nothing_is_due_before_the_next_tick() -> None:
    anchor = at("2024-01-01T00:00:00")
    decision = decide_tick(
        _every(60), last=anchor, now=anchor + dt.timedelta(seconds=59), anchor=anchor
    )
    assert decision.tick is None
    assert decision.handled_up_to == anchor


@pytest.mark.parametrize(("misfire", "fires"), [("skip", False), ("fire_once", True)])
def test_after_downtime_missed_ticks_follow_the_misfire_policy(misfire: str, fires: bool) -> None:
    anchor = at("2024-01-01T00:00:00")
    now = anchor + dt.timedelta(hours=5, seconds=30 * 60 + 45)  # 330 ticks missed, last 45 s ago
    decision = decide_tick(
        _every(60, misfire), last=anchor, now=now, anchor=anchor, grace=dt.timedelta(seconds=30)
    )
    latest = anchor + dt.timedelta(hours=5, minutes=30)
    assert decision.handled_up_to == latest
    assert decision.tick == (latest if fires else None)


def test_a_tick_always_gets_the_same_firing_id() -> None:
    tick = at("2024-01-01T08:00:00")
    one = schedule_firing("t1", "ws", 1, tick, tick)
    two = schedule_firing("t1", "ws", 3, tick.astimezone(PARIS), tick + dt.timedelta(seconds=3))
    other = schedule_firing("t2", "ws", 1, tick, tick)
    assert one.firing_id == two.firing_id != other.firing_id
