"""A synthetic but realistic workspace history: scans, hosts, services and finding lifecycles.

Written straight to the log (no parsing), so replay tests and the replay
benchmark can build large logs quickly. The shape follows what the ingest
importer records: a scan's uploads and lifecycle, then per host the asset
events and the findings' detections, re-observations, closures and reopenings.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

from shared.contracts import (
    Event,
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    HostChanged,
    HostDetected,
    ScanCompleted,
    ScanStarted,
    ScanUploaded,
    ServiceDetected,
    WorkspaceCreated,
    asset_stream,
    finding_stream,
    scan_stream,
)
from shared.contracts.workspace import workspace_stream
from shared.eventstore import EventStore, StreamWrite

SEVERITIES = ("info", "low", "medium", "high", "critical")
_T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _details(rule: int, scan: int) -> FindingDetails:
    return FindingDetails(
        title=f"Issue {rule}",
        severity=SEVERITIES[rule % 5],
        rule_id=f"rule-{rule}",
        description=f"Description of rule {rule}, as seen by scan {scan}",
        cve=(f"CVE-2024-{1000 + rule}",) if rule % 3 == 0 else (),
    )


def scan_writes(workspace: str, scan: int, hosts: int, rules: int, seed: int) -> list[StreamWrite]:
    """The writes of one scan of `hosts` hosts with up to `rules` findings each."""
    rng = random.Random(seed * 7919 + scan)
    scan_id = f"{workspace}-scan-{scan}"
    at = _T0 + dt.timedelta(hours=scan)
    common = {"workspace_id": workspace, "scan_id": scan_id}
    scan_events: list[Event] = [
        ScanUploaded(
            **common, object_name=scan_id, filename="scan.xml", size=1000, sha256=f"s{scan}"
        ),
        ScanStarted(**common),
    ]
    writes: list[StreamWrite] = []
    for h in range(hosts):
        asset = f"{workspace}-h{h}"
        asset_events: list[Event] = (
            [
                HostDetected(
                    **common,
                    asset_id=asset,
                    kind="host",
                    key=f"10.0.{h // 250}.{h % 250}",
                    first_seen=at,
                    address=f"10.0.{h // 250}.{h % 250}",
                ),
                ServiceDetected(**common, asset_id=asset, port=22, protocol="tcp", first_seen=at),
            ]
            if scan == 0
            else [HostChanged(**common, asset_id=asset, seen_at=at, os=f"linux-{scan}")]
        )
        writes.append(
            StreamWrite(stream_id=asset_stream(asset), workspace_id=workspace, events=asset_events)
        )
        for rule in range(rules):
            fingerprint = f"{asset}-r{rule}"
            writes.append(
                StreamWrite(
                    stream_id=finding_stream(fingerprint),
                    workspace_id=workspace,
                    events=[_finding_event(rng, common, asset, fingerprint, rule, scan, at)],
                )
            )
    writes.insert(
        0, StreamWrite(stream_id=scan_stream(scan_id), workspace_id=workspace, events=scan_events)
    )
    writes.append(
        StreamWrite(
            stream_id=scan_stream(scan_id),
            workspace_id=workspace,
            events=[ScanCompleted(**common, format="nmap", scanner="nmap", hosts=hosts)],
        )
    )
    return writes


def _finding_event(
    rng: random.Random,
    common: dict[str, str],
    asset: str,
    fingerprint: str,
    rule: int,
    scan: int,
    at: dt.datetime,
) -> Event:
    ids = {"workspace_id": common["workspace_id"], "fingerprint": fingerprint}
    seen = {"scanner": "nmap", "scan_id": common["scan_id"], "scan_sha256": f"s{scan}"}
    if scan == 0:
        return FindingDetected(
            **ids,
            **seen,
            asset_id=asset,
            asset_kind="host",
            asset_key=asset,
            first_seen=at,
            details=_details(rule, scan),
            port=22,
            protocol="tcp",
        )
    roll = rng.random()
    if roll < 0.1:
        return FindingClosed(**ids, scanner="nmap", scan_id=common["scan_id"], closed_at=at)
    if roll < 0.15:
        return FindingReopened(**ids, **seen, seen_at=at, details=_details(rule, scan))
    return FindingObserved(**ids, **seen, seen_at=at, details=_details(rule, scan))


def history(
    workspace: str, *, scans: int, hosts: int, rules: int, seed: int = 0
) -> Iterator[list[StreamWrite]]:
    """A workspace's creation, then `scans` scans; each item is one append."""
    yield [
        StreamWrite(
            stream_id=workspace_stream(workspace),
            workspace_id=workspace,
            events=[WorkspaceCreated(workspace_id=workspace, name=f"Workspace {workspace}")],
        )
    ]
    for scan in range(scans):
        yield scan_writes(workspace, scan, hosts, rules, seed)


async def record_history(
    store: EventStore, workspaces: list[str], *, scans: int, hosts: int, rules: int
) -> int:
    """Append the histories of `workspaces`, interleaved scan by scan; returns the event count."""
    count = 0
    streams = [
        history(ws, scans=scans, hosts=hosts, rules=rules, seed=i)
        for i, ws in enumerate(workspaces)
    ]
    for batches in zip(*streams, strict=True):
        for writes in batches:
            count += len(await store.append(writes))
    return count
