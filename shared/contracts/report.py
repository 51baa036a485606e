"""Events of the report context: one stream per report, ``report-<report_id>``.

A report is requested with the log position it must reflect, so rendering it
again later (from the same request) gives the same content: the renderer
folds the workspace's finding events up to that position, never the live
read models.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, ClassVar

import msgspec

from shared.contracts.base import Event, register

__all__ = (
    "REPORT_CONTENT_TYPES",
    "REPORT_EXTENSIONS",
    "ReportEvent",
    "ReportFailed",
    "ReportFilters",
    "ReportFormat",
    "ReportGenerated",
    "ReportProgressed",
    "ReportRequested",
    "ReportStarted",
    "ReportTemplate",
    "report_stream",
)


def report_stream(report_id: str) -> str:
    """The id of the stream that holds one report's lifecycle."""
    return f"report-{report_id}"


class ReportFormat(enum.StrEnum):
    """The file a report is rendered to."""

    PDF = "pdf"
    HTML = "html"
    MARKDOWN = "markdown"
    CSV = "csv"
    JSON = "json"


class ReportTemplate(enum.StrEnum):
    """What a report tells: a one-minute summary, every detail, or a plan per asset."""

    EXECUTIVE = "executive"
    TECHNICAL = "technical"
    REMEDIATION = "remediation"


REPORT_CONTENT_TYPES: dict[ReportFormat, str] = {
    ReportFormat.PDF: "application/pdf",
    ReportFormat.HTML: "text/html; charset=utf-8",
    ReportFormat.MARKDOWN: "text/markdown; charset=utf-8",
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.JSON: "application/json",
}
"""The media type each format is served with."""

REPORT_EXTENSIONS: dict[ReportFormat, str] = {
    ReportFormat.PDF: "pdf",
    ReportFormat.HTML: "html",
    ReportFormat.MARKDOWN: "md",
    ReportFormat.CSV: "csv",
    ReportFormat.JSON: "json",
}
"""The file-name extension of each format."""

Severity = Annotated[str, msgspec.Meta(pattern=r"^(info|low|medium|high|critical)$")]
AwareDatetime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Status = Annotated[
    str, msgspec.Meta(pattern=r"^(open|fixed|reopened|risk_accepted|false_positive)$")
]


class ReportFilters(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Which findings a report covers; an empty filter lets every finding through.

    `severity` and `status` keep findings with one of the values listed.
    `since` / `until` keep findings active in that period: first seen at or
    before `until` and last seen at or after `since`. `assets` keeps findings
    whose asset id or asset key is listed.
    """

    severity: tuple[Severity, ...] = ()
    status: tuple[Status, ...] = ()
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    assets: tuple[str, ...] = ()


@register
class ReportRequested(Event, frozen=True, tag="ReportRequested"):
    """Someone asked for a report of a workspace as the log stood at `position`.

    `position` is the log head when the request was accepted: the report
    reflects every event up to it and nothing after, so it can be rendered
    again, identically, at any later time.
    """

    context: ClassVar[str] = "report"

    report_id: str
    workspace_id: str
    format: ReportFormat
    template: ReportTemplate
    position: int
    filters: ReportFilters = ReportFilters()
    title: str | None = None


@register
class ReportStarted(Event, frozen=True, tag="ReportStarted"):
    """A rendering attempt began (a retried job records a higher `attempt`)."""

    context: ClassVar[str] = "report"

    report_id: str
    workspace_id: str
    attempt: int = 1


@register
class ReportProgressed(Event, frozen=True, tag="ReportProgressed"):
    """How far rendering has got: `stage` (reading, rendering, storing) and `percent` (0-100)."""

    context: ClassVar[str] = "report"

    report_id: str
    workspace_id: str
    stage: str
    percent: int


@register
class ReportGenerated(Event, frozen=True, tag="ReportGenerated"):
    """The report's file is in the object store (bucket ``vigil-reports``, `object_name`).

    `position` is the log position it was built from; `findings` how many
    findings it covers.
    """

    context: ClassVar[str] = "report"

    report_id: str
    workspace_id: str
    object_name: str
    filename: str
    content_type: str
    size: int
    sha256: str
    position: int
    findings: int = 0


@register
class ReportFailed(Event, frozen=True, tag="ReportFailed"):
    """The report could not be rendered; `reason` is meant for the user."""

    context: ClassVar[str] = "report"

    report_id: str
    workspace_id: str
    reason: str


ReportEvent = ReportRequested | ReportStarted | ReportProgressed | ReportGenerated | ReportFailed
