"""The pure rules of the statistics: lifecycle, risk, remediation time, SLA, and the tally."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from services.stats._tally import Tally, fold, net_change
from services.stats.domain import (
    ASSET_RISK_SCALE,
    FindingState,
    evolve,
    mean_time_to_remediate,
    remediation_seconds,
    risk_points,
    risk_score,
    sla_breached,
    sla_due,
)
from shared.contracts import (
    Event,
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
)

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
SLA = {"critical": 7, "high": 30, "medium": 90, "low": 180}


def detected(fp: str = "f1", severity: str = "high", **kw: object) -> FindingDetected:
    return FindingDetected(
        workspace_id="ws",
        fingerprint=fp,
        asset_id=str(kw.get("asset", "a1")),
        asset_kind="host",
        asset_key="10.0.0.1",
        scanner="s",
        scan_id="scan1",
        scan_sha256="x",
        first_seen=kw.get("at", T0),  # type: ignore[arg-type]
        details=FindingDetails(
            title="t",
            severity=severity,
            cve=tuple(kw.get("cve", ())),  # type: ignore[arg-type]
        ),
        port=kw.get("port"),  # type: ignore[arg-type]
    )


def closed(fp: str = "f1", at: dt.datetime = T0 + dt.timedelta(days=3)) -> FindingClosed:
    return FindingClosed(workspace_id="ws", fingerprint=fp, scanner="s", scan_id="s2", closed_at=at)


def observed(fp: str = "f1", severity: str = "critical", **kw: object) -> FindingObserved:
    return FindingObserved(
        workspace_id="ws",
        fingerprint=fp,
        scanner="s",
        scan_id="s3",
        scan_sha256="y",
        seen_at=kw.get("at", T0 + dt.timedelta(days=1)),  # type: ignore[arg-type]
        details=FindingDetails(title="t", severity=severity, cve=("CVE-2024-1",)),
    )


def reopened(fp: str = "f1", at: dt.datetime = T0 + dt.timedelta(days=5)) -> FindingReopened:
    return FindingReopened(
        workspace_id="ws",
        fingerprint=fp,
        scanner="s",
        scan_id="s4",
        scan_sha256="z",
        seen_at=at,
        details=FindingDetails(title="t", severity="high"),
    )


def status(fp: str, to: FindingStatus, at: dt.datetime = T0 + dt.timedelta(days=2)) -> Event:
    return FindingStatusChanged(
        workspace_id="ws",
        fingerprint=fp,
        status=to,
        previous_status=FindingStatus.OPEN,
        changed_at=at,
        comment="c",
    )


def run(*events: Event) -> FindingState | None:
    state = None
    for event in events:
        state = evolve(state, event)
    return state


def test_a_detected_finding_is_open_with_its_first_seen_time() -> None:
    state = run(detected(port=443))
    assert state is not None
    assert (state.status, state.is_open, state.first_seen) == ("open", True, T0)
    assert (state.port, state.protocol) == (443, "tcp")


def test_a_second_detection_changes_nothing_and_unknown_findings_are_ignored() -> None:
    assert run(detected(), detected(severity="low")) == run(detected())
    assert run(closed()) is None


def test_lifecycle_follows_scans_and_analysts() -> None:
    state = run(detected(), observed())
    assert state is not None
    assert (state.severity, state.cve, state.status) == ("critical", ("CVE-2024-1",), "open")
    state = evolve(state, closed())
    assert state is not None
    assert (state.status, state.closed_at) == ("fixed", T0 + dt.timedelta(days=3))
    state = evolve(state, reopened())
    assert state is not None
    assert (state.status, state.closed_at, state.is_open) == ("reopened", None, True)
    state = evolve(state, status("f1", FindingStatus.RISK_ACCEPTED))
    assert state is not None
    assert (state.status, state.is_open) == ("risk_accepted", False)
    state = evolve(state, status("f1", FindingStatus.FIXED))
    assert state is not None
    assert state.remediated_seconds == 2 * 86400


def test_risk_points_count_open_findings_by_severity_only() -> None:
    assert risk_points(run(detected(severity="critical"))) == 40
    assert risk_points(run(detected(severity="info"))) == 0
    assert risk_points(run(detected(severity="critical"), closed())) == 0
    assert risk_points(None) == 0


@pytest.mark.parametrize(
    ("points", "score"),
    [(0, 0.0), (-5, 0.0), (40, 33.0), (100, 63.2), (1000, 100.0)],
)
def test_risk_score_grows_and_saturates(points: int, score: float) -> None:
    assert risk_score(points, ASSET_RISK_SCALE) == score


def test_risk_score_is_monotonic() -> None:
    scores = [risk_score(p, ASSET_RISK_SCALE) for p in range(0, 400, 7)]
    assert scores == sorted(scores)
    assert all(0 <= s <= 100 for s in scores)


def test_remediation_time_is_whole_seconds_and_never_negative() -> None:
    assert remediation_seconds(T0, T0 + dt.timedelta(hours=1, microseconds=900)) == 3600
    assert remediation_seconds(T0, T0 - dt.timedelta(days=1)) == 0
    assert mean_time_to_remediate(0, 0) is None
    assert mean_time_to_remediate(4, 10) == 2.5


def test_sla_due_and_breach() -> None:
    state = run(detected(severity="critical"))
    assert state is not None
    assert sla_due(state, SLA) == T0 + dt.timedelta(days=7)
    assert not sla_breached(state, SLA, T0 + dt.timedelta(days=7))
    assert sla_breached(state, SLA, T0 + dt.timedelta(days=7, seconds=1))
    info = run(detected(severity="info"))
    assert info is not None
    assert sla_due(info, SLA) is None
    assert not sla_breached(info, SLA, T0 + dt.timedelta(days=10_000))
    fixed = run(detected(severity="critical"), closed())
    assert fixed is not None
    assert not sla_breached(fixed, SLA, T0 + dt.timedelta(days=100))


EVENTS: list[Event] = [
    detected("f1", "high", cve=("CVE-1",), port=22),
    detected("f2", "critical", asset="a2", cve=("CVE-1", "CVE-2")),
    observed("f1", "critical"),
    closed("f2"),
    reopened("f2"),
    status("f1", FindingStatus.FIXED),
    detected("f3", "low", at=T0 + dt.timedelta(days=1)),
]


def _net(tally: Tally) -> dict[str, dict[object, list[int]]]:
    return {table: tally.changes(table) for table in tally.rows}


def _fold(
    states: dict[str, FindingState | None], events: Iterable[tuple[int, Event]], tally: Tally
) -> dict[str, int]:
    """One batch: fold it, then count its net change."""
    originals: dict[str, FindingState | None] = {}
    changed = fold(states, events, tally, originals)
    net_change(states, originals, tally)
    return changed


def test_a_batch_tallies_the_same_as_one_event_at_a_time() -> None:
    whole = Tally()
    _fold({}, enumerate(EVENTS), whole)
    stepwise = Tally()
    states: dict[str, FindingState | None] = {}
    for event in EVENTS:
        step = Tally()
        _fold(states, [(0, event)], step)
        for table, rows in step.rows.items():
            for key, vector in rows.items():
                stepwise.add(table, key, vector)
    assert _net(whole) == _net(stepwise)


def test_many_batches_netted_once_tally_the_same_as_one_batch() -> None:
    whole = Tally()
    _fold({}, enumerate(EVENTS), whole)
    window = Tally()  # a replay's fold between two saves
    states: dict[str, FindingState | None] = {}
    originals: dict[str, FindingState | None] = {}
    for position, event in enumerate(EVENTS):
        fold(states, [(position, event)], window, originals)
    net_change(states, originals, window)
    assert _net(window) == _net(whole)


def test_the_tally_counts_the_final_states() -> None:
    tally = Tally()
    states: dict[str, FindingState | None] = {}
    assert len(_fold(states, enumerate(EVENTS), tally)) == 3
    assert tally.changes("severity_status") == {
        ("critical", "fixed"): [1],
        ("high", "reopened"): [1],
        ("low", "open"): [1],
    }
    assert tally.changes("cves") == {("CVE-2024-1",): [1, 0]}
    assert tally.changes("mttr") == {("critical",): [1, 2 * 86400]}
    assert tally.changes("workspace") == {(): [15 + 1]}
    open_daily = tally.changes("open_daily")
    assert sum(v[0] - v[1] for v in open_daily.values()) == 2
    assert open_daily[(T0.date(), "high")] == [1, 0]
    assert open_daily[((T0 + dt.timedelta(days=1)).date(), "high")] == [0, 1]
