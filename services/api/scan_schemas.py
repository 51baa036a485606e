"""Bodies of the scan routes: an upload's answer and a scan's status, progress and counts."""

from __future__ import annotations

import datetime as dt
import enum
import re

import msgspec

__all__ = (
    "FORMAT_PATTERN",
    "ScanAccepted",
    "ScanCounts",
    "ScanList",
    "ScanProgress",
    "ScanStatus",
    "ScanView",
)

FORMAT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
"""What a ``format`` hint must look like. Whether the format exists is the ingest
service's call: an unknown name fails the scan with a reason listing the known ones."""


class ScanStatus(enum.StrEnum):
    """Where an upload stands: queued, then parsing, then applied or failed."""

    QUEUED = "queued"
    PARSING = "parsing"
    APPLIED = "applied"
    FAILED = "failed"


class ScanAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of ``POST .../scans`` (202): the file is stored and its import is queued.

    Follow `url` (also the ``Location`` header) to watch it; `position` is the
    log position of its `ScanUploaded`.
    """

    id: str
    workspace_id: str
    status: ScanStatus
    filename: str
    size: int
    sha256: str
    url: str
    position: int


class ScanProgress(msgspec.Struct, frozen=True, kw_only=True):
    """How far parsing has got: bytes of `total_bytes` read, items parsed."""

    bytes_read: int
    total_bytes: int
    items: int


class ScanCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What an applied scan held and changed (see `ScanCompleted`)."""

    hosts: int = 0
    services: int = 0
    findings: int = 0
    findings_new: int = 0
    findings_observed: int = 0
    findings_reopened: int = 0
    findings_closed: int = 0
    findings_unchanged: int = 0
    duplicates: int = 0


class ScanView(msgspec.Struct, frozen=True, kw_only=True):
    """One upload: its options, status, progress, counts and, when it failed, why."""

    id: str
    workspace_id: str
    filename: str
    size: int
    sha256: str
    status: ScanStatus
    progress: ScanProgress
    counts: ScanCounts
    attempts: int = 0
    format_hint: str | None = None
    scanner_hint: str | None = None
    scope: str | None = None
    format: str | None = None
    scanner: str | None = None
    duplicate_of: str | None = None
    reason: str | None = None
    uploaded_at: dt.datetime
    uploaded_by: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    position: int


class ScanList(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../scans``: newest first; pass `next_cursor` as `cursor` to read on."""

    scans: list[ScanView]
    next_cursor: str | None = None
