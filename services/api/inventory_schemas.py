"""Bodies of the inventory routes: findings, their history and status changes, hosts, services."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

import msgspec

from services.api.schemas import EventView

__all__ = (
    "SEVERITIES",
    "AssetRef",
    "ChangeFindingStatus",
    "Finding",
    "FindingHistory",
    "FindingPage",
    "FindingSort",
    "FindingSummary",
    "Host",
    "HostPage",
    "Service",
    "ServicePage",
    "SortOrder",
)

SEVERITIES = ("info", "low", "medium", "high", "critical")
"""Severities from the least to the most severe."""


class FindingSort(enum.StrEnum):
    """What findings can be sorted by (ties are broken by fingerprint)."""

    SEVERITY = "severity"
    LAST_SEEN = "last_seen"
    FIRST_SEEN = "first_seen"
    TITLE = "title"


class SortOrder(enum.StrEnum):
    """Ascending or descending."""

    ASC = "asc"
    DESC = "desc"


class AssetRef(msgspec.Struct, frozen=True, kw_only=True):
    """The asset a finding is on: its id (see ``/hosts``), kind and key."""

    id: str
    kind: str
    key: str


class FindingSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A finding as listed: `id` is its fingerprint, stable across scans and scanners."""

    id: str
    asset: AssetRef
    port: int | None
    protocol: str | None
    title: str
    severity: str
    status: str
    cve: list[str]
    cwe: list[str]
    cvss_score: float | None
    rule_id: str | None
    location: str | None
    scanners: list[str]
    scopes: list[str]
    observations: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    closed_at: dt.datetime | None
    version: int


class Finding(FindingSummary, frozen=True, kw_only=True):
    """A finding in full: the latest observation's details and the last analyst change."""

    description: str | None
    solution: str | None
    references: list[str]
    cvss_vector: str | None
    evidence: str | None
    status_comment: str | None
    status_actor: str | None
    status_changed_at: dt.datetime | None
    first_scan_id: str
    last_scan_id: str


class FindingPage(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../findings``: pass `next_cursor` as `cursor` for the next page."""

    findings: list[FindingSummary]
    next_cursor: str | None = None


class ChangeFindingStatus(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``PATCH .../findings/{id}``: an analyst sets the status, saying why.

    `status` is one of open, fixed, risk_accepted, false_positive (reopened is
    only ever a scan's verdict); risk_accepted and false_positive need a
    comment. With `version` (the finding's `version` as last read) the change
    is refused with 409 if anything happened to the finding since.
    """

    status: str
    comment: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None


class FindingHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../findings/{id}/history``: every event of the finding, oldest first."""

    id: str
    events: list[EventView]


class Host(msgspec.Struct, frozen=True, kw_only=True):
    """An asset: a host, a container image, a repository or a website."""

    id: str
    kind: str
    key: str
    address: str | None
    hostnames: list[str]
    os: str | None
    mac: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_scan_id: str
    last_scan_id: str


class HostPage(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../hosts``, most recently changed first."""

    hosts: list[Host]
    next_cursor: str | None = None


class Service(msgspec.Struct, frozen=True, kw_only=True):
    """A network service (port and protocol) on an asset."""

    asset: AssetRef
    port: int
    protocol: str
    state: str
    name: str | None
    product: str | None
    version: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime


class ServicePage(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../services``, by asset, port and protocol."""

    services: list[Service]
    next_cursor: str | None = None
