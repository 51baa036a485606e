"""The finding lifecycle: what an import changes, given what the workspace knows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from msgspec.structs import replace

from services.ingest.domain import (
    ImportContext,
    InvalidStatusChange,
    KnownState,
    decide_import,
    decide_status_change,
    dedupe,
    evolve,
    fingerprint,
)
from services.ingest.parsers.model import (
    Asset,
    AssetKind,
    FindingObserved,
    HostObserved,
    Item,
    ServiceObserved,
    Severity,
)
from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    HostChanged,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
)
from shared.contracts import (
    FindingObserved as FindingSeenAgain,
)

WS = "ws-unit"
A = Asset(kind=AssetKind.HOST, key="10.0.0.1", address="10.0.0.1")
B = Asset(kind=AssetKind.HOST, key="10.0.0.2", address="10.0.0.2")


def vuln(asset: Asset, rule: str, **changes: Any) -> FindingObserved:
    base = FindingObserved(
        asset=asset, scanner="nessus", title=f"Issue {rule}", severity=Severity.MEDIUM, rule_id=rule
    )
    return replace(base, **changes)


def ctx(sha: str, scan: str = "s1", scope: str | None = None) -> ImportContext:
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return ImportContext(workspace_id=WS, scan_id=scan, sha256=sha, scope=scope, at=at)


def run(
    known: KnownState,
    items: list[Item],
    sha: str,
    scope: str | None = None,
    hint: str | None = None,
) -> tuple[KnownState, list[Any], Any]:
    decision = decide_import(
        ctx(sha, scan=f"scan-{sha}", scope=scope),
        items,
        known,
        format="test",
        scanner="nessus",
        scanner_hint=hint,
    )
    events = [change.event for change in decision.changes]
    for event in events:
        known = evolve(known, event)
    return known, events, decision.completed


def of_type(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


FIRST: list[Item] = [
    HostObserved(asset=A),
    ServiceObserved(asset=A, port=22, name="ssh"),
    vuln(A, "1", port=22, protocol="tcp"),
    vuln(A, "2"),
    vuln(A, "3"),
    vuln(B, "4"),
]


def test_first_import_detects_hosts_services_and_findings() -> None:
    _, events, done = run(KnownState(), FIRST, "a")
    assert len(of_type(events, HostDetected)) == 2
    assert len(of_type(events, ServiceDetected)) == 1
    assert len(of_type(events, FindingDetected)) == 4
    assert (done.hosts, done.services, done.findings, done.findings_new) == (2, 1, 4, 4)
    assert all(e.first_seen == ctx("a").at for e in of_type(events, FindingDetected))


def test_same_finding_twice_in_one_file_is_one_finding() -> None:
    items: list[Item] = [
        vuln(A, "1", severity=Severity.LOW, cve=("CVE-2020-0001",)),
        vuln(A, "1", severity=Severity.HIGH, cve=("CVE-2020-0001", "CVE-2021-0002")),
    ]
    _, events, done = run(KnownState(), items, "a")
    (detected,) = of_type(events, FindingDetected)
    assert detected.details.severity == "high"
    assert detected.details.cve == ("CVE-2020-0001", "CVE-2021-0002")
    assert (done.findings, done.duplicates) == (1, 1)
    assert len(dedupe(WS, items).findings) == 1


def test_reimport_of_same_file_changes_nothing() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    again, events, done = run(known, FIRST, "a")
    assert events == []
    assert again == known
    assert (done.findings_unchanged, done.findings_new, done.findings_closed) == (4, 0, 0)


def test_later_scan_of_same_scope_closes_exactly_what_disappeared() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    later = [item for item in FIRST if getattr(item, "rule_id", None) not in {"2", "3"}]
    known, events, done = run(known, later, "b")
    closed = {e.fingerprint for e in of_type(events, FindingClosed)}
    assert closed == {fingerprint(WS, vuln(A, "2")), fingerprint(WS, vuln(A, "3"))}
    assert len(of_type(events, FindingSeenAgain)) == 2
    assert (done.findings_closed, done.findings_observed) == (2, 2)
    assert known.findings[fingerprint(WS, vuln(A, "2"))].status == FindingStatus.FIXED


def test_fixed_finding_that_is_back_is_reopened() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    known, _, _ = run(known, [HostObserved(asset=A), vuln(A, "1", port=22)], "b")
    known, events, done = run(
        known, [HostObserved(asset=A), vuln(A, "1", port=22), vuln(A, "2")], "c"
    )
    (reopened,) = of_type(events, FindingReopened)
    assert reopened.fingerprint == fingerprint(WS, vuln(A, "2"))
    assert done.findings_reopened == 1
    assert known.findings[reopened.fingerprint].status == FindingStatus.REOPENED


def test_assets_the_scan_did_not_cover_keep_their_findings_open() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    _, events, _ = run(known, [HostObserved(asset=A)], "b")
    closed = {e.fingerprint for e in of_type(events, FindingClosed)}
    assert fingerprint(WS, vuln(B, "4")) not in closed
    assert len(closed) == 3


def test_another_scanner_does_not_close_findings_it_never_reported() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    _, events, _ = run(known, [HostObserved(asset=A), HostObserved(asset=B)], "b", hint="nmap")
    assert of_type(events, FindingClosed) == []


def test_scope_tag_narrows_what_a_rescan_closes() -> None:
    known, _, _ = run(KnownState(), [vuln(A, "1")], "a", scope="dmz")
    known, _, _ = run(known, [vuln(A, "2")], "b", scope="internal")
    _, events, _ = run(known, [HostObserved(asset=A)], "c", scope="dmz")
    assert [e.fingerprint for e in of_type(events, FindingClosed)] == [
        fingerprint(WS, vuln(A, "1"))
    ]


def test_an_empty_scope_tag_is_a_tag_as_the_read_models_keep_it() -> None:
    known, _, _ = run(KnownState(), [vuln(A, "1")], "a", scope="")
    known, _, _ = run(known, [vuln(A, "1")], "b", scope="dmz")
    assert known.findings[fingerprint(WS, vuln(A, "1"))].scopes == ("", "dmz")
    _, events, _ = run(known, [HostObserved(asset=A)], "c", scope="")
    assert [e.fingerprint for e in of_type(events, FindingClosed)] == [
        fingerprint(WS, vuln(A, "1"))
    ]


def test_analyst_verdicts_survive_rescans() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    fp = fingerprint(WS, vuln(A, "2"))
    change = decide_status_change(
        WS,
        known.findings[fp],
        "risk_accepted",
        comment="compensating control",
        actor="ann",
        at=ctx("x").at,
    )
    assert change is not None
    known = evolve(known, change.event)
    _, events, _ = run(known, [HostObserved(asset=A)], "b")
    assert fp not in {e.fingerprint for e in of_type(events, FindingClosed)}


def test_hosts_and_services_change_only_when_something_changed() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    items: list[Item] = [
        HostObserved(asset=replace(A, os="Linux")),
        ServiceObserved(asset=A, port=22, name="ssh", product="OpenSSH"),
    ]
    known, events, _ = run(known, items, "b")
    assert [type(e) for e in events if not isinstance(e, FindingClosed)] == [
        HostChanged,
        ServiceChanged,
    ]
    _, events, _ = run(known, items, "c")
    assert [e for e in events if not isinstance(e, FindingClosed)] == []


def test_status_change_is_validated() -> None:
    known, _, _ = run(KnownState(), FIRST, "a")
    finding = known.findings[fingerprint(WS, vuln(A, "1", port=22))]
    at = ctx("x").at
    with pytest.raises(InvalidStatusChange, match="comment"):
        decide_status_change(WS, finding, "false_positive", comment=" ", actor="ann", at=at)
    with pytest.raises(InvalidStatusChange, match="scans"):
        decide_status_change(WS, finding, "reopened", comment="", actor="ann", at=at)
    with pytest.raises(InvalidStatusChange, match="Unknown status"):
        decide_status_change(WS, finding, "gone", comment="", actor="ann", at=at)
    with pytest.raises(InvalidStatusChange, match="No such finding"):
        decide_status_change(WS, None, "open", comment="", actor="ann", at=at)
    assert decide_status_change(WS, finding, "open", comment="", actor="ann", at=at) is None
    change = decide_status_change(WS, finding, "false_positive", comment="lab", actor="ann", at=at)
    assert change is not None
    assert change.expected_version == finding.version
    assert isinstance(change.event, FindingStatusChanged)
    assert (change.event.previous_status, change.event.actor) == (FindingStatus.OPEN, "ann")
