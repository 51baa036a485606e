"""Events of the finding context: one stream per finding, ``finding-<fingerprint>``.

A finding is identified by its fingerprint (workspace, asset and a
scanner-independent key; see ``services.ingest.domain.fingerprint``), so the
same issue reported by two scans or two scanners is one finding with several
observations.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import ClassVar

import msgspec

from shared.contracts.base import Event, register

__all__ = (
    "ANALYST_STATUSES",
    "FINDING_EVENT_TYPES",
    "OPEN_STATUSES",
    "FindingClosed",
    "FindingDetails",
    "FindingDetected",
    "FindingEvent",
    "FindingObserved",
    "FindingReopened",
    "FindingStatus",
    "FindingStatusChanged",
    "finding_stream",
)


def finding_stream(fingerprint: str) -> str:
    """The id of the stream that holds one finding's history."""
    return f"finding-{fingerprint}"


class FindingStatus(enum.StrEnum):
    """Where a finding stands.

    Scans move findings between open, fixed and reopened; analysts set
    risk_accepted or false_positive (or open/fixed by hand).
    """

    OPEN = "open"
    FIXED = "fixed"
    REOPENED = "reopened"
    RISK_ACCEPTED = "risk_accepted"
    FALSE_POSITIVE = "false_positive"


OPEN_STATUSES = frozenset({FindingStatus.OPEN, FindingStatus.REOPENED})
"""Statuses of findings that a re-scan of their scope closes when it no longer reports them."""

ANALYST_STATUSES = frozenset(
    {
        FindingStatus.OPEN,
        FindingStatus.FIXED,
        FindingStatus.RISK_ACCEPTED,
        FindingStatus.FALSE_POSITIVE,
    }
)
"""Statuses an analyst may set by hand (reopened is only ever the scans' verdict)."""


class FindingDetails(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What a scanner says about a finding, normalised.

    `severity` is info, low, medium, high or critical; `rule_id` the
    scanner's own check id; `location` a URL path, a file and line, or a
    package inside the asset.
    """

    title: str
    severity: str
    rule_id: str | None = None
    location: str | None = None
    description: str | None = None
    solution: str | None = None
    references: tuple[str, ...] = ()
    cve: tuple[str, ...] = ()
    cwe: tuple[str, ...] = ()
    cvss_vector: str | None = None
    cvss_score: float | None = None
    evidence: str | None = None


@register
class FindingDetected(Event, frozen=True, tag="FindingDetected"):
    """A scan reported a finding the workspace had never seen; it is open.

    `scan_sha256` (the file content's hash) together with the fingerprint
    identifies this observation: importing the same content again records
    nothing new for the finding.
    """

    context: ClassVar[str] = "finding"

    workspace_id: str
    fingerprint: str
    asset_id: str
    asset_kind: str
    asset_key: str
    scanner: str
    scan_id: str
    scan_sha256: str
    first_seen: dt.datetime
    details: FindingDetails
    port: int | None = None
    protocol: str | None = None
    scope: str | None = None


@register
class FindingObserved(Event, frozen=True, tag="FindingObserved"):
    """A later scan (or another scanner) reported a known finding again: one more observation.

    `details` are what this observation said; read models show the latest.
    """

    context: ClassVar[str] = "finding"

    workspace_id: str
    fingerprint: str
    scanner: str
    scan_id: str
    scan_sha256: str
    seen_at: dt.datetime
    details: FindingDetails
    scope: str | None = None


@register
class FindingClosed(Event, frozen=True, tag="FindingClosed"):
    """A re-scan of the finding's scope no longer reported it: it is fixed."""

    context: ClassVar[str] = "finding"

    workspace_id: str
    fingerprint: str
    scanner: str
    scan_id: str
    closed_at: dt.datetime
    reason: str = "not reported by a later scan of the same scope"


@register
class FindingReopened(Event, frozen=True, tag="FindingReopened"):
    """A fixed finding was reported again; it is also an observation."""

    context: ClassVar[str] = "finding"

    workspace_id: str
    fingerprint: str
    scanner: str
    scan_id: str
    scan_sha256: str
    seen_at: dt.datetime
    details: FindingDetails
    scope: str | None = None


@register
class FindingStatusChanged(Event, frozen=True, tag="FindingStatusChanged"):
    """An analyst set a finding's status, with a comment; `actor` is who did it."""

    context: ClassVar[str] = "finding"

    workspace_id: str
    fingerprint: str
    status: FindingStatus
    previous_status: FindingStatus
    changed_at: dt.datetime
    comment: str = ""
    actor: str | None = None


FindingEvent = (
    FindingDetected | FindingObserved | FindingClosed | FindingReopened | FindingStatusChanged
)

FINDING_EVENT_TYPES = frozenset(
    t.type_name()
    for t in (
        FindingDetected,
        FindingObserved,
        FindingClosed,
        FindingReopened,
        FindingStatusChanged,
    )
)
"""The type names of `FindingEvent`, for reading a finding's history from the log."""
