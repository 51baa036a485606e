"""OpenVAS / Greenbone (GVM) CSV result exports.

Header: ``IP, Hostname, Port, Port Protocol, CVSS, Severity, ..., NVT Name,
Summary, Specific Result, NVT OID, CVEs, ...``. One finding per row, keyed by
the NVT OID; the port is empty for host-level results.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _csv
from services.ingest.parsers._assets import host_asset
from services.ingest.parsers._normalise import cve_ids, parse_float, severity_from_word
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Item

__all__ = ("OpenvasCsv",)

_SIGNATURE = ("ip", "nvt name", "nvt oid", "severity")


class OpenvasCsv(Parser):
    """GVM/OpenVAS "CSV Results" report format."""

    format: ClassVar[str] = "openvas-csv"
    scanner: ClassVar[str] = "openvas"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A CSV header with ``IP``, ``NVT Name``, ``NVT OID`` and ``Severity``."""
        header = _csv.header_of(head)
        return header is not None and set(_SIGNATURE) <= set(header)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each host once and one finding per result row."""
        seen: set[str] = set()
        for row in _csv.rows(stream, signatures=(_SIGNATURE,), what="OpenVAS CSV file"):
            asset = host_asset(_csv.pick(row, "ip"), _csv.pick(row, "hostname"))
            if asset is None:
                continue
            if asset.key not in seen:
                seen.add(asset.key)
                yield HostObserved(asset=asset)
            port = _csv.port_number(row.get("port"))
            yield FindingObserved(
                asset=asset,
                scanner=self.scanner,
                title=_csv.pick(row, "nvt name") or "OpenVAS result",
                severity=severity_from_word(_csv.pick(row, "severity")),
                rule_id=_csv.pick(row, "nvt oid"),
                port=port,
                protocol=(_csv.pick(row, "port protocol") or "tcp").lower() if port else None,
                description=_csv.pick(row, "summary", "vulnerability insight"),
                solution=_csv.pick(row, "solution"),
                references=tuple((_csv.pick(row, "other references") or "").split()),
                cve=cve_ids(_csv.pick(row, "cves")),
                cvss_score=parse_float(_csv.pick(row, "cvss")),
                evidence=_csv.pick(row, "specific result"),
            )
