"""Request and response bodies of the report routes."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

import msgspec

from shared.contracts.report import ReportFilters, ReportFormat, ReportTemplate

__all__ = ("ReportAccepted", "ReportList", "ReportStatus", "ReportView", "RequestReport")


class ReportStatus(enum.StrEnum):
    """Where a report stands: queued, rendering, generated (file ready) or failed."""

    QUEUED = "queued"
    RENDERING = "rendering"
    GENERATED = "generated"
    FAILED = "failed"


class RequestReport(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/workspaces/{ws}/reports``.

    The report reflects the log as it stands when the request is accepted.
    """

    format: ReportFormat = ReportFormat.PDF
    template: ReportTemplate = ReportTemplate.EXECUTIVE
    filters: ReportFilters = ReportFilters()
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class ReportAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to a report request: where to follow it and the log `position` it reflects."""

    id: str
    workspace_id: str
    status: ReportStatus
    format: ReportFormat
    template: ReportTemplate
    position: int
    url: str
    file_url: str


class ReportView(msgspec.Struct, frozen=True, kw_only=True):
    """A report's status and progress, and once generated, its file."""

    id: str
    workspace_id: str
    format: str
    template: str
    title: str | None
    filters: ReportFilters
    position: int
    status: ReportStatus
    attempts: int
    stage: str | None
    percent: int
    requested_at: dt.datetime
    requested_by: str | None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    findings: int | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    reason: str | None = None
    url: str = ""
    file_url: str | None = None


class ReportList(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET /api/v1/workspaces/{ws}/reports``: newest request first."""

    reports: list[ReportView]
