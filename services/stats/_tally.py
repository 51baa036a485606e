"""What one finding contributes to each aggregate, and the net change a batch of events makes.

Every aggregate table is a sum over findings, so a batch (or many) changes
it by ``contributions(new state) - contributions(old state)`` for each
finding touched, netted per row: a few set-based upserts per save, whatever
the number of events. Only the open-over-time series counts every change.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING

from services.stats.domain import SEVERITIES, event_time, evolve, risk_points

if TYPE_CHECKING:
    from collections.abc import Iterable

    from services.stats.domain import FindingState
    from shared.contracts import Event

__all__ = ("ASSET_COUNTS", "Key", "Tally", "fold", "net_change")

Key = tuple[object, ...]

ASSET_COUNTS = (
    "findings",
    "open",
    *(f"open_{severity}" for severity in SEVERITIES),
    "risk_points",
)
"""Counter columns of ``stats_assets`` and ``stats_services``, in vector order."""


class Tally:
    """Net changes per table and row key: vectors of integers to add."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Key, list[int]]] = defaultdict(dict)

    def add(self, table: str, key: Key, vector: Iterable[int], sign: int = 1) -> None:
        """Add `sign` times `vector` to the row `key` of `table`."""
        values = list(vector)
        row = self.rows[table].setdefault(key, [0] * len(values))
        for index, value in enumerate(values):
            row[index] += sign * value

    def changes(self, table: str) -> dict[Key, list[int]]:
        """The rows of `table` whose net change is not zero."""
        return {key: row for key, row in self.rows.get(table, {}).items() if any(row)}

    def contribute(self, state: FindingState | None, sign: int) -> None:
        """Add (sign 1) or withdraw (sign -1) what `state` counts for in every aggregate."""
        if state is None:
            return
        is_open = int(state.is_open)
        asset = (
            1,
            is_open,
            *(int(is_open and state.severity == severity) for severity in SEVERITIES),
            risk_points(state),
        )
        self.add("severity_status", (state.severity, state.status), (1,), sign)
        self.add("assets", (state.asset_id,), asset, sign)
        if state.port and state.protocol:
            self.add("services", (state.asset_id, state.port, state.protocol), asset, sign)
        for cve in set(state.cve):
            self.add("cves", (cve,), (1, is_open), sign)
        for cwe in set(state.cwe):
            self.add("cwes", (cwe,), (1, is_open), sign)
        remediated = state.remediated_seconds
        if remediated is not None:
            self.add("mttr", (state.severity,), (1, remediated), sign)
        self.add("workspace", (), (risk_points(state),), sign)

    def transition(
        self, before: FindingState | None, after: FindingState | None, at: dt.datetime | None
    ) -> None:
        """Count a finding entering or leaving the open set (or changing severity while open).

        The day is that of the event's own timestamp (UTC), so the open-over-time
        series follows scan and analyst time, not when vigil happened to import.
        """
        old, new = before and before.open_severity, after and after.open_severity
        if old == new or at is None:
            return
        day = at.astimezone(dt.UTC).date()
        if old is not None:
            self.add("open_daily", (day, old), (0, 1))
        if new is not None:
            self.add("open_daily", (day, new), (1, 0))


def fold(
    states: dict[str, FindingState | None],
    events: Iterable[tuple[int, Event]],
    tally: Tally,
    originals: dict[str, FindingState | None],
) -> dict[str, int]:
    """Apply ``(position, event)`` pairs to `states` (by fingerprint) in order.

    Open-set transitions go into `tally` as they happen; each finding's state
    before its first change goes into `originals` (unless it is there
    already), for `net_change` to count once however often it changed.
    Returns, for every finding changed, the position of the last event that
    changed it; an event that leaves a state equal is no change.
    """
    changed: dict[str, int] = {}
    for position, event in events:
        fingerprint: str = getattr(event, "fingerprint", "")
        before = states.get(fingerprint)
        after = evolve(before, event)
        if after == before:
            continue  # e.g. a re-observation: nothing the statistics count has changed
        if fingerprint not in originals:
            originals[fingerprint] = before
        changed[fingerprint] = position
        tally.transition(before, after, event_time(event))
        states[fingerprint] = after
    return changed


def net_change(
    states: dict[str, FindingState | None], originals: dict[str, FindingState | None], tally: Tally
) -> None:
    """Count in `tally` what each finding in `originals` now contributes instead of then."""
    for fingerprint, before in originals.items():
        tally.contribute(before, -1)
        tally.contribute(states[fingerprint], 1)
