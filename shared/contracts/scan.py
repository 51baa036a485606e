"""Events of the scan context: one stream per uploaded scan file, from upload to outcome."""

from __future__ import annotations

from typing import ClassVar

from shared.contracts.base import Event, register

__all__ = (
    "ScanCompleted",
    "ScanEvent",
    "ScanFailed",
    "ScanProgressed",
    "ScanStarted",
    "ScanUploaded",
    "scan_stream",
)


def scan_stream(scan_id: str) -> str:
    """The id of the stream that holds one scan's lifecycle."""
    return f"scan-{scan_id}"


@register
class ScanUploaded(Event, frozen=True, tag="ScanUploaded"):
    """A scan file was stored in the object store and waits to be imported.

    `object_name` names the file in the scans bucket; `format_hint` (a parser
    format name) and `scanner_hint` override detection; `scope` is an optional
    user tag that narrows which earlier findings a re-scan may close.
    """

    context: ClassVar[str] = "scan"

    scan_id: str
    workspace_id: str
    object_name: str
    filename: str
    size: int
    sha256: str
    format_hint: str | None = None
    scanner_hint: str | None = None
    scope: str | None = None


@register
class ScanStarted(Event, frozen=True, tag="ScanStarted"):
    """An import attempt of the scan began (a retried job records a higher `attempt`)."""

    context: ClassVar[str] = "scan"

    scan_id: str
    workspace_id: str
    attempt: int = 1


@register
class ScanProgressed(Event, frozen=True, tag="ScanProgressed"):
    """How far parsing has got; recorded about once a second while an import runs."""

    context: ClassVar[str] = "scan"

    scan_id: str
    workspace_id: str
    bytes_read: int
    items: int


@register
class ScanCompleted(Event, frozen=True, tag="ScanCompleted"):
    """The scan was applied: every host, service and finding event of it is in the log.

    Counts are of distinct things in the file (`hosts`, `services`,
    `findings`) and of what the import changed: findings new, observed again,
    reopened and closed; `unchanged` findings had already been recorded from
    this very file content, `duplicates` are repeated entries merged within
    the file. `duplicate_of` names an earlier scan of identical content, in
    which case nothing else was recorded.
    """

    context: ClassVar[str] = "scan"

    scan_id: str
    workspace_id: str
    format: str
    scanner: str
    hosts: int = 0
    services: int = 0
    findings: int = 0
    findings_new: int = 0
    findings_observed: int = 0
    findings_reopened: int = 0
    findings_closed: int = 0
    findings_unchanged: int = 0
    duplicates: int = 0
    duplicate_of: str | None = None


@register
class ScanFailed(Event, frozen=True, tag="ScanFailed"):
    """The scan could not be imported; `reason` is meant for the user. Nothing was applied."""

    context: ClassVar[str] = "scan"

    scan_id: str
    workspace_id: str
    reason: str


ScanEvent = ScanUploaded | ScanStarted | ScanProgressed | ScanCompleted | ScanFailed
