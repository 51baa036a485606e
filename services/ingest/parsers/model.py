"""The normalised items every scanner parser yields.

Parsers translate a scanner's vocabulary into these few shapes and nothing
more: deduplication, fingerprints and the finding lifecycle belong to the
ingest domain, which consumes the items in the order they are yielded.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = (
    "Asset",
    "AssetKind",
    "FindingObserved",
    "HostObserved",
    "Item",
    "ServiceObserved",
    "Severity",
)


class Severity(enum.StrEnum):
    """The five severities vigil uses, from least to most urgent."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AssetKind(enum.StrEnum):
    """What kind of thing a finding lives on."""

    HOST = "host"
    IMAGE = "image"
    REPOSITORY = "repository"
    WEBSITE = "website"


class Asset(msgspec.Struct, frozen=True, kw_only=True):
    """The thing a scanner looked at, identified as stably as the scanner allows.

    `key` is the scanner-independent identity: an IP address (or a hostname
    when no address is known) for hosts, `name:tag` for images, a repository
    or project name for code, `scheme://host:port` for web sites.
    """

    kind: AssetKind
    key: str
    address: str | None = None
    hostnames: tuple[str, ...] = ()
    os: str | None = None
    mac: str | None = None


class HostObserved(msgspec.Struct, frozen=True, kw_only=True, tag="host"):
    """The scanner saw an asset (up, or at least reported), possibly without findings."""

    asset: Asset
    status: str = "up"


class ServiceObserved(msgspec.Struct, frozen=True, kw_only=True, tag="service"):
    """A network service on an asset."""

    asset: Asset
    port: int
    protocol: str = "tcp"
    state: str = "open"
    name: str | None = None
    product: str | None = None
    version: str | None = None


class FindingObserved(msgspec.Struct, frozen=True, kw_only=True, tag="finding"):
    """One issue a scanner reported on an asset.

    `rule_id` is the scanner's own stable identifier of the check (Nessus
    plugin id, nuclei template id, SARIF rule id, ...). `location` narrows the
    finding inside the asset: a URL path, a file path and line, a package
    name and version. Port and protocol are set when the finding is on a
    service.
    """

    asset: Asset
    scanner: str
    title: str
    severity: Severity
    rule_id: str | None = None
    port: int | None = None
    protocol: str | None = None
    location: str | None = None
    description: str | None = None
    solution: str | None = None
    references: tuple[str, ...] = ()
    cve: tuple[str, ...] = ()
    cwe: tuple[str, ...] = ()
    cvss_vector: str | None = None
    cvss_score: float | None = None
    evidence: str | None = None


Item = HostObserved | ServiceObserved | FindingObserved
