"""Nessus, Tenable.io and Tenable.sc CSV exports.

Three header vocabularies are read: Nessus (``Plugin ID, CVE, CVSS, Risk, Host,
...``), Tenable.sc (``Plugin, Plugin Name, Severity, IP Address, DNS Name, ...``)
and Tenable.io (``;``-separated ``definition.id``, ``asset.display_ipv4_address``,
...). Each data row is one finding; Nessus writes one row per CVE of a plugin,
so one plugin with three CVEs is three rows and three findings here. Rows with
neither a host nor a plugin id (blank trailer rows) are skipped.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

import msgspec

from services.ingest.parsers import _csv
from services.ingest.parsers._assets import host_asset
from services.ingest.parsers._normalise import (
    clean_text,
    cve_ids,
    cwe_ids,
    parse_float,
    severity_from_word,
)
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers._csv import Row
    from services.ingest.parsers.model import Asset, Item

__all__ = ("TenableCsv", "severity_from_number_or_word")

_SIGNATURES = (
    {"plugin id", "host", "name"},
    {"plugin", "plugin name", "ip address"},
    {"definition.id", "definition.name", "asset.id"},
)
_NUMBERED = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


def severity_from_number_or_word(value: str | None) -> Severity:
    """Tenable's severity cells: ``0``-``4`` or a word (``None``, ``Low``, ... ``Critical``)."""
    if value and value.strip().isdigit():
        return _NUMBERED[min(int(value.strip()), 4)]
    return severity_from_word(value)


def _asset(row: Row) -> Asset | None:
    address = _csv.pick(
        row, "ip address", "asset.display_ipv4_address", "asset.display_ipv6_address"
    )
    name = _csv.pick(row, "dns name", "fqdn", "asset.display_fqdn", "asset.host_name", "host")
    host = _csv.pick(row, "host")
    asset = host_asset(address or host, name)
    if asset is None:
        return None
    os = _csv.pick(row, "os", "asset.operating_system")
    mac = _csv.pick(row, "mac address", "asset.display_mac_address")
    return msgspec.structs.replace(asset, os=os, mac=mac)


def _finding(asset: Asset, row: Row) -> FindingObserved:
    plugin = _csv.pick(row, "plugin id", "plugin", "definition.id")
    port = _csv.port_number(_csv.pick(row, "port"))
    severity = severity_from_number_or_word(
        _csv.pick(row, "risk", "severity", "definition.severity", "risk factor")
    )
    see_also = _csv.pick(row, "see also", "definition.see_also") or ""
    return FindingObserved(
        asset=asset,
        scanner="nessus",
        title=_csv.pick(row, "name", "plugin name", "definition.name") or f"Plugin {plugin}",
        severity=severity,
        rule_id=plugin,
        port=port,
        protocol=(_csv.pick(row, "protocol") or "tcp").lower() if port else None,
        description=_csv.pick(row, "description", "definition.description", "synopsis"),
        solution=_csv.pick(row, "solution", "definition.solution"),
        references=tuple(line.strip() for line in see_also.split() if line.strip()),
        cve=cve_ids(_csv.pick(row, "cve", "definition.cve")),
        cwe=cwe_ids(*(_csv.pick(row, "definition.cwe") or "").split(",")),
        cvss_vector=_csv.pick(
            row, "cvss v3 vector", "cvss3 vector", "definition.cvss3.base_vector"
        ),
        cvss_score=parse_float(
            _csv.pick(
                row,
                "cvss v3 base score",
                "cvss v3.0 base score",
                "cvss3 base score",
                "definition.cvss3.base_score",
                "cvss",
            )
        ),
        evidence=clean_text(_csv.pick(row, "plugin output", "plugin text", "output")),
    )


class TenableCsv(Parser):
    """CSV exported by Nessus, Tenable.io or Tenable.sc (``,`` or ``;`` separated)."""

    format: ClassVar[str] = "tenable-csv"
    scanner: ClassVar[str] = "nessus"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A CSV header containing one of the three Tenable column signatures."""
        header = _csv.header_of(head)
        return header is not None and any(sig <= set(header) for sig in _SIGNATURES)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each host once (when first seen) and one finding per data row."""
        seen: set[str] = set()
        for row in _csv.rows(stream, signatures=_SIGNATURES, what="Tenable CSV export"):
            asset = _asset(row)
            if asset is None or not _csv.pick(row, "plugin id", "plugin", "definition.id"):
                continue
            if asset.key not in seen:
                seen.add(asset.key)
                yield HostObserved(asset=asset)
            yield _finding(asset, row)
