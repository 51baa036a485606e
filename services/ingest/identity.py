"""Identities of assets, services and findings, and merging repeated sightings in one file.

Fingerprint rule (version 1): a finding is the SHA-256 (first 32 hex digits)
of, in order,

1. the workspace id;
2. the asset's kind and key (lower-cased, trimmed);
3. the issue key: the lowest CVE id the finding names (by year, then
   number), else ``<scanner>:<rule id>`` (a scanner's own check id only
   means something together with the scanner's name), else the title
   lower-cased with runs of whitespace collapsed;
4. the port and protocol (port 0 counts as no port; the protocol only with
   a port, lower-cased, default tcp);
5. the location inside the asset (URL path, file and line, package), trimmed.

Nothing of the scanner's run (scan time, order, plugin output, severity)
enters it, so re-importing a file gives the same findings, and the same CVE
reported by two scanners on the same asset, port and location is one
finding with two observations. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import msgspec

from services.ingest.parsers.model import FindingObserved
from shared.contracts import FindingDetails

if TYPE_CHECKING:
    from services.ingest.parsers.model import Asset, Item, ServiceObserved

__all__ = (
    "SEVERITY_RANK",
    "asset_id",
    "details_of",
    "fingerprint",
    "issue_key",
    "merge_assets",
    "merge_findings",
    "merge_services",
    "service_key",
    "union",
    "with_scanner",
)

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
_SPACES = re.compile(r"\s+")
_CVE = re.compile(r"^CVE-(\d{4})-(\d+)$", re.IGNORECASE)


def _digest(*parts: object) -> str:
    return hashlib.sha256(msgspec.json.encode(parts)).hexdigest()[:32]


def asset_id(workspace_id: str, asset: Asset) -> str:
    """The stable id of an asset in a workspace (its stream is ``asset-<id>``)."""
    return _digest("asset-v1", workspace_id, str(asset.kind), asset.key.strip().lower())


def _cve_order(cve: str) -> tuple[int, int, str]:
    match = _CVE.match(cve.strip())
    if match is None:
        return (1 << 30, 1 << 30, cve)
    return (int(match[1]), int(match[2]), cve)


def issue_key(finding: FindingObserved) -> str:
    """What the finding is about, independent of the run: lowest CVE, else rule, else title."""
    if finding.cve:
        return "cve:" + min(finding.cve, key=_cve_order).strip().upper()
    if finding.rule_id and finding.rule_id.strip():
        return f"rule:{finding.scanner.strip().lower()}:{finding.rule_id.strip().lower()}"
    return "title:" + _SPACES.sub(" ", finding.title).strip().lower()


def fingerprint(workspace_id: str, finding: FindingObserved) -> str:
    """The finding's identity in the workspace (see the module docstring for the rule)."""
    port = finding.port or None
    protocol = (finding.protocol or "tcp").strip().lower() if port else None
    return _digest(
        "finding-v1",
        workspace_id,
        str(finding.asset.kind),
        finding.asset.key.strip().lower(),
        issue_key(finding),
        port,
        protocol,
        (finding.location or "").strip(),
    )


def service_key(service: ServiceObserved) -> tuple[int, str]:
    """A service's identity on its asset: port and lower-cased protocol."""
    return (service.port, (service.protocol or "tcp").strip().lower())


def with_scanner(item: Item, scanner: str | None) -> Item:
    """`item` with its scanner name replaced by an upload's scanner hint, when there is one."""
    if scanner and isinstance(item, FindingObserved) and item.scanner != scanner:
        return msgspec.structs.replace(item, scanner=scanner)
    return item


def union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """The distinct values of `groups`, in order of first appearance."""
    return tuple(dict.fromkeys(value for group in groups for value in group))


def merge_assets(first: Asset, second: Asset) -> Asset:
    """One asset from two sightings in one file: first non-empty values, hostnames united."""
    return msgspec.structs.replace(
        first,
        address=first.address or second.address,
        hostnames=union(first.hostnames, second.hostnames),
        os=first.os or second.os,
        mac=first.mac or second.mac,
    )


def merge_services(first: ServiceObserved, second: ServiceObserved) -> ServiceObserved:
    """One service from two sightings in one file: first non-empty values."""
    return msgspec.structs.replace(
        first,
        asset=merge_assets(first.asset, second.asset),
        name=first.name or second.name,
        product=first.product or second.product,
        version=first.version or second.version,
    )


def merge_findings(first: FindingObserved, second: FindingObserved) -> FindingObserved:
    """One finding from two entries of one file with the same fingerprint.

    The higher severity wins; CVE, CWE and references are united; for every
    other field the first entry's value wins when it has one.
    """
    severity = max(first.severity, second.severity, key=lambda s: SEVERITY_RANK[str(s)])
    return msgspec.structs.replace(
        first,
        severity=severity,
        cve=union(first.cve, second.cve),
        cwe=union(first.cwe, second.cwe),
        references=union(first.references, second.references),
        description=first.description or second.description,
        solution=first.solution or second.solution,
        cvss_vector=first.cvss_vector or second.cvss_vector,
        cvss_score=first.cvss_score if first.cvss_score is not None else second.cvss_score,
        evidence=first.evidence or second.evidence,
        rule_id=first.rule_id or second.rule_id,
    )


def details_of(finding: FindingObserved) -> FindingDetails:
    """The descriptive part of a parsed finding, as events carry it."""
    return FindingDetails(
        title=finding.title,
        severity=str(finding.severity),
        rule_id=finding.rule_id,
        location=finding.location,
        description=finding.description,
        solution=finding.solution,
        references=finding.references,
        cve=finding.cve,
        cwe=finding.cwe,
        cvss_vector=finding.cvss_vector,
        cvss_score=finding.cvss_score,
        evidence=finding.evidence,
    )
