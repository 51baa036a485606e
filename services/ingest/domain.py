"""The ingest domain: the finding lifecycle and what a scan changes. Pure: no I/O.

The import job feeds these functions from staged rows and read models, the
unit tests from small lists; `decide_import` composes them for a whole file
held in memory. Identities (fingerprints) live in `services.ingest.identity`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from services.ingest.identity import (
    asset_id,
    details_of,
    fingerprint,
    merge_assets,
    merge_findings,
    merge_services,
    service_key,
    union,
    with_scanner,
)
from services.ingest.parsers.model import Asset, FindingObserved, ServiceObserved
from shared.contracts import (
    ANALYST_STATUSES,
    OPEN_STATUSES,
    Event,
    FindingClosed,
    FindingDetected,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    HostChanged,
    HostDetected,
    ScanCompleted,
    ServiceChanged,
    ServiceDetected,
    asset_stream,
    finding_stream,
)
from shared.contracts import FindingObserved as FindingSeenAgain

if TYPE_CHECKING:
    from collections.abc import Container, Iterable, Iterator

    from services.ingest.parsers.model import Item

__all__ = (
    "Change",
    "Deduped",
    "ImportContext",
    "ImportDecision",
    "InvalidStatusChange",
    "KnownFinding",
    "KnownHost",
    "KnownService",
    "KnownState",
    "Tally",
    "completed",
    "decide_closures",
    "decide_finding",
    "decide_host",
    "decide_import",
    "decide_service",
    "decide_status_change",
    "dedupe",
    "evolve",
    "fingerprint",
    "first_scopes",
    "in_scope",
)


class ImportContext(msgspec.Struct, frozen=True, kw_only=True):
    """The scan being applied: whose, which file content, which scope, and when."""

    workspace_id: str
    scan_id: str
    sha256: str
    scope: str | None
    at: dt.datetime


class KnownHost(msgspec.Struct, frozen=True, kw_only=True):
    """What the workspace knows of an asset."""

    asset_id: str
    address: str | None = None
    hostnames: tuple[str, ...] = ()
    os: str | None = None
    mac: str | None = None


class KnownService(msgspec.Struct, frozen=True, kw_only=True):
    """What the workspace knows of a service on an asset."""

    asset_id: str
    port: int
    protocol: str
    state: str = "open"
    name: str | None = None
    product: str | None = None
    version: str | None = None


class KnownFinding(msgspec.Struct, frozen=True, kw_only=True):
    """What the lifecycle needs of a known finding; `version` is its stream's version."""

    fingerprint: str
    asset_id: str
    status: FindingStatus
    version: int
    scanners: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    last_scan_sha256: str | None = None


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One event to append; `expected_version` guards against concurrent writers."""

    stream_id: str
    event: Event
    expected_version: int | None = None


class Tally(msgspec.Struct, kw_only=True):
    """Running counts of an import, for `ScanCompleted`."""

    hosts: int = 0
    services: int = 0
    findings: int = 0
    new: int = 0
    observed: int = 0
    reopened: int = 0
    closed: int = 0
    unchanged: int = 0
    duplicates: int = 0


def decide_host(
    ctx: ImportContext, aid: str, asset: Asset, known: KnownHost | None
) -> Change | None:
    """`HostDetected` for a new asset, `HostChanged` when a known one looks different, else None.

    A sighting only adds information: values it lacks keep the known ones.
    """
    stream = asset_stream(aid)
    if known is None:
        event: Event = HostDetected(
            workspace_id=ctx.workspace_id,
            asset_id=aid,
            kind=str(asset.kind),
            key=asset.key,
            address=asset.address,
            hostnames=asset.hostnames,
            os=asset.os,
            mac=asset.mac,
            scan_id=ctx.scan_id,
            first_seen=ctx.at,
        )
        return Change(stream_id=stream, event=event, expected_version=0)
    address = asset.address or known.address
    hostnames = union(known.hostnames, asset.hostnames)
    os = asset.os or known.os
    mac = asset.mac or known.mac
    if (address, hostnames, os, mac) == (known.address, known.hostnames, known.os, known.mac):
        return None
    event = HostChanged(
        workspace_id=ctx.workspace_id,
        asset_id=aid,
        address=address,
        hostnames=hostnames,
        os=os,
        mac=mac,
        scan_id=ctx.scan_id,
        seen_at=ctx.at,
    )
    return Change(stream_id=stream, event=event)


def decide_service(
    ctx: ImportContext, aid: str, service: ServiceObserved, known: KnownService | None
) -> Change | None:
    """`ServiceDetected` for a new port, `ServiceChanged` when a known one differs, else None."""
    port, protocol = service_key(service)
    state = service.state or "open"
    if known is None:
        event: Event = ServiceDetected(
            workspace_id=ctx.workspace_id,
            asset_id=aid,
            port=port,
            protocol=protocol,
            state=state,
            name=service.name,
            product=service.product,
            version=service.version,
            scan_id=ctx.scan_id,
            first_seen=ctx.at,
        )
        return Change(stream_id=asset_stream(aid), event=event)
    name = service.name or known.name
    product = service.product or known.product
    version = service.version or known.version
    if (state, name, product, version) == (known.state, known.name, known.product, known.version):
        return None
    event = ServiceChanged(
        workspace_id=ctx.workspace_id,
        asset_id=aid,
        port=port,
        protocol=protocol,
        state=state,
        name=name,
        product=product,
        version=version,
        scan_id=ctx.scan_id,
        seen_at=ctx.at,
    )
    return Change(stream_id=asset_stream(aid), event=event)


def decide_finding(
    ctx: ImportContext, fp: str, finding: FindingObserved, known: KnownFinding | None, tally: Tally
) -> Change | None:
    """The lifecycle step for a finding the scan reports.

    New: `FindingDetected`. Fixed: `FindingReopened`. Already observed from
    this very file content: nothing (a re-import changes nothing). Otherwise:
    `FindingObserved`, whatever its status (analysts' verdicts stand).
    """
    stream = finding_stream(fp)
    tally.findings += 1
    if known is None:
        tally.new += 1
        detected = FindingDetected(
            workspace_id=ctx.workspace_id,
            fingerprint=fp,
            asset_id=asset_id(ctx.workspace_id, finding.asset),
            asset_kind=str(finding.asset.kind),
            asset_key=finding.asset.key,
            port=finding.port or None,
            protocol=(finding.protocol or "tcp").lower() if finding.port else None,
            scanner=finding.scanner,
            scan_id=ctx.scan_id,
            scan_sha256=ctx.sha256,
            scope=ctx.scope,
            first_seen=ctx.at,
            details=details_of(finding),
        )
        return Change(stream_id=stream, event=detected, expected_version=0)
    if known.status == FindingStatus.FIXED:
        tally.reopened += 1
        event: Event = FindingReopened(
            workspace_id=ctx.workspace_id,
            fingerprint=fp,
            scanner=finding.scanner,
            scan_id=ctx.scan_id,
            scan_sha256=ctx.sha256,
            scope=ctx.scope,
            seen_at=ctx.at,
            details=details_of(finding),
        )
        return Change(stream_id=stream, event=event, expected_version=known.version)
    if known.last_scan_sha256 == ctx.sha256:
        tally.unchanged += 1
        return None
    tally.observed += 1
    event = FindingSeenAgain(
        workspace_id=ctx.workspace_id,
        fingerprint=fp,
        scanner=finding.scanner,
        scan_id=ctx.scan_id,
        scan_sha256=ctx.sha256,
        scope=ctx.scope,
        seen_at=ctx.at,
        details=details_of(finding),
    )
    return Change(stream_id=stream, event=event, expected_version=known.version)


def in_scope(
    ctx: ImportContext, known: KnownFinding, covered: Container[str], scanners: Container[str]
) -> bool:
    """Whether a re-scan's silence about `known` means it is fixed.

    The scan's scope is its scanner(s) and its target set (the assets it
    reported), narrowed by the user's scope tag when the upload has one: an
    open finding on a covered asset, seen before by one of the same
    scanners (and under the same tag), is in scope.
    """
    return (
        known.status in OPEN_STATUSES
        and known.asset_id in covered
        and any(scanner in scanners for scanner in known.scanners)
        and (ctx.scope is None or ctx.scope in known.scopes)
    )


def decide_closures(
    ctx: ImportContext,
    candidates: Iterable[KnownFinding],
    reported: Container[str],
    covered: Container[str],
    scanners: Container[str],
    tally: Tally,
) -> Iterator[Change]:
    """`FindingClosed` for each open finding in scope among `candidates` the scan did not report."""
    for known in candidates:
        if known.fingerprint in reported or not in_scope(ctx, known, covered, scanners):
            continue
        tally.closed += 1
        scanner = next((s for s in known.scanners if s in scanners), known.scanners[0])
        closed = FindingClosed(
            workspace_id=ctx.workspace_id,
            fingerprint=known.fingerprint,
            scanner=scanner,
            scan_id=ctx.scan_id,
            closed_at=ctx.at,
        )
        yield Change(
            stream_id=finding_stream(known.fingerprint),
            event=closed,
            expected_version=known.version,
        )


class InvalidStatusChange(ValueError):
    """An analyst's status change cannot be applied; the message says why."""


def decide_status_change(
    workspace_id: str,
    known: KnownFinding | None,
    status: str,
    *,
    comment: str,
    actor: str | None,
    at: dt.datetime,
) -> Change | None:
    """An analyst sets a finding's status: the event, None when it already has it.

    Raises:
        InvalidStatusChange: unknown finding or status, a status analysts may
            not set, or a risk acceptance / false positive without a comment.
    """
    if known is None:
        raise InvalidStatusChange("No such finding in this workspace.")
    try:
        wanted = FindingStatus(status)
    except ValueError:
        raise InvalidStatusChange(
            f"Unknown status {status!r}; choose one of: {', '.join(sorted(ANALYST_STATUSES))}."
        ) from None
    if wanted not in ANALYST_STATUSES:
        raise InvalidStatusChange(f"Status {status!r} is set by scans, not by analysts.")
    needs_reason = {FindingStatus.RISK_ACCEPTED, FindingStatus.FALSE_POSITIVE}
    if wanted in needs_reason and not comment.strip():
        raise InvalidStatusChange(f"Setting a finding to {status} needs a comment saying why.")
    if wanted == known.status:
        return None
    event = FindingStatusChanged(
        workspace_id=workspace_id,
        fingerprint=known.fingerprint,
        status=wanted,
        previous_status=known.status,
        comment=comment.strip(),
        actor=actor,
        changed_at=at,
    )
    return Change(
        stream_id=finding_stream(known.fingerprint), event=event, expected_version=known.version
    )


def completed(ctx: ImportContext, tally: Tally, *, format: str, scanner: str) -> ScanCompleted:
    """The `ScanCompleted` that closes an applied import."""
    return ScanCompleted(
        scan_id=ctx.scan_id,
        workspace_id=ctx.workspace_id,
        format=format,
        scanner=scanner,
        hosts=tally.hosts,
        services=tally.services,
        findings=tally.findings,
        findings_new=tally.new,
        findings_observed=tally.observed,
        findings_reopened=tally.reopened,
        findings_closed=tally.closed,
        findings_unchanged=tally.unchanged,
        duplicates=tally.duplicates,
    )


class Deduped(msgspec.Struct, kw_only=True):
    """A file's items with repeats merged: assets, services and findings by identity."""

    hosts: dict[str, Asset] = msgspec.field(default_factory=dict)
    services: dict[tuple[str, int, str], ServiceObserved] = msgspec.field(default_factory=dict)
    findings: dict[str, FindingObserved] = msgspec.field(default_factory=dict)
    scanners: set[str] = msgspec.field(default_factory=set)
    duplicates: int = 0


def dedupe(workspace_id: str, items: Iterable[Item], scanner: str | None = None) -> Deduped:
    """Merge repeated sightings within one file: one asset, service or finding per identity.

    Every asset a service or finding lives on counts as seen. Findings with
    the same fingerprint become one (`merge_findings`) and count as
    duplicates. `scanner`, an upload's hint, replaces the items' scanner name.
    """
    found = Deduped()
    for raw in items:
        item = with_scanner(raw, scanner)
        aid = asset_id(workspace_id, item.asset)
        seen = found.hosts.get(aid)
        found.hosts[aid] = item.asset if seen is None else merge_assets(seen, item.asset)
        if isinstance(item, ServiceObserved):
            key = (aid, *service_key(item))
            earlier = found.services.get(key)
            found.services[key] = item if earlier is None else merge_services(earlier, item)
        elif isinstance(item, FindingObserved):
            found.scanners.add(item.scanner)
            fp = fingerprint(workspace_id, item)
            first = found.findings.get(fp)
            if first is not None:
                found.duplicates += 1
            found.findings[fp] = item if first is None else merge_findings(first, item)
    return found


class KnownState(msgspec.Struct, frozen=True, kw_only=True):
    """What a workspace knows before an import: assets, services and findings by identity."""

    hosts: dict[str, KnownHost] = msgspec.field(default_factory=dict)
    services: dict[tuple[str, int, str], KnownService] = msgspec.field(default_factory=dict)
    findings: dict[str, KnownFinding] = msgspec.field(default_factory=dict)


class ImportDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one import appends, `completed` last."""

    changes: list[Change]
    completed: ScanCompleted


def decide_import(
    ctx: ImportContext,
    items: Iterable[Item],
    known: KnownState,
    *,
    format: str,
    scanner: str,
    scanner_hint: str | None = None,
) -> ImportDecision:
    """What importing a whole file changes, given what the workspace knows.

    Assets and services new or changed; findings detected, observed again or
    reopened; open findings of the same scope that the scan no longer
    reports closed. `scanner` is the format's default scanner name.
    """
    found = dedupe(ctx.workspace_id, items, scanner_hint)
    tally = Tally(hosts=len(found.hosts), services=len(found.services), duplicates=found.duplicates)
    changes: list[Change] = []
    for aid, asset in found.hosts.items():
        changes.extend(_some(decide_host(ctx, aid, asset, known.hosts.get(aid))))
    for key, service in found.services.items():
        changes.extend(_some(decide_service(ctx, key[0], service, known.services.get(key))))
    for fp, finding in found.findings.items():
        changes.extend(_some(decide_finding(ctx, fp, finding, known.findings.get(fp), tally)))
    scanners = found.scanners | {scanner_hint or scanner}
    changes.extend(
        decide_closures(ctx, known.findings.values(), found.findings, found.hosts, scanners, tally)
    )
    done = completed(ctx, tally, format=format, scanner=scanner_hint or scanner)
    return ImportDecision(changes=changes, completed=done)


def _some(change: Change | None) -> list[Change]:
    return [] if change is None else [change]


def first_scopes(scope: str | None) -> list[str]:
    """The `scopes` of a finding first detected under `scope`: any tag but None counts.

    One rule for the read models' one-by-one and bulk writes and for `evolve`,
    so that all of them read `in_scope` the same way.
    """
    return [] if scope is None else [scope]


def evolve(known: KnownState, event: Event) -> KnownState:
    """The state after `event`: what the read models compute, for callers that hold it in memory."""
    hosts, services, findings = dict(known.hosts), dict(known.services), dict(known.findings)
    match event:
        case HostDetected() | HostChanged():
            hosts[event.asset_id] = KnownHost(
                asset_id=event.asset_id,
                address=event.address,
                hostnames=event.hostnames,
                os=event.os,
                mac=event.mac,
            )
        case ServiceDetected() | ServiceChanged():
            services[(event.asset_id, event.port, event.protocol)] = KnownService(
                asset_id=event.asset_id,
                port=event.port,
                protocol=event.protocol,
                state=event.state,
                name=event.name,
                product=event.product,
                version=event.version,
            )
        case FindingDetected():
            findings[event.fingerprint] = KnownFinding(
                fingerprint=event.fingerprint,
                asset_id=event.asset_id,
                status=FindingStatus.OPEN,
                version=1,
                scanners=(event.scanner,),
                scopes=tuple(first_scopes(event.scope)),
                last_scan_sha256=event.scan_sha256,
            )
        case FindingSeenAgain() | FindingReopened():
            before = findings[event.fingerprint]
            findings[event.fingerprint] = msgspec.structs.replace(
                before,
                status=FindingStatus.REOPENED
                if isinstance(event, FindingReopened)
                else before.status,
                version=before.version + 1,
                scanners=union(before.scanners, (event.scanner,)),
                scopes=union(before.scopes, tuple(first_scopes(event.scope))),
                last_scan_sha256=event.scan_sha256,
            )
        case FindingClosed() | FindingStatusChanged():
            before = findings[event.fingerprint]
            status = FindingStatus.FIXED if isinstance(event, FindingClosed) else event.status
            findings[event.fingerprint] = msgspec.structs.replace(
                before, status=status, version=before.version + 1
            )
    return KnownState(hosts=hosts, services=services, findings=findings)
