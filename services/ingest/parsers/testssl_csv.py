"""testssl.sh CSV (``--csvfile``): ``id, fqdn/ip, port, severity, finding, cve, cwe``.

Every row is one check result. Only rows rated LOW, MEDIUM, HIGH or CRITICAL
become findings; OK, INFO and DEBUG rows are measurements, and WARN/FATAL rows
are testssl.sh talking about itself (``engine_problem``, ``scanProblem``). A
target testssl.sh could not connect to (a FATAL ``scanProblem``) is reported
as a host with status ``down``. Rows whose ``fqdn/ip`` names no host (the
``/`` of ``engine_problem``) are skipped.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _csv
from services.ingest.parsers._assets import host_asset
from services.ingest.parsers._normalise import cve_ids, cwe_ids, severity_from_word
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers._csv import Row
    from services.ingest.parsers.model import Asset, Item

__all__ = ("TestsslCsv",)

_SIGNATURE = ("id", "fqdn/ip", "port", "severity", "finding")
_FINDING_SEVERITIES = frozenset({"LOW", "MEDIUM", "HIGH", "CRITICAL"})


def _asset(row: Row) -> Asset | None:
    """``www.example.org/93.184.216.34`` -> HOST keyed by the IP, hostname kept."""
    name, _, address = (row.get("fqdn/ip") or "").strip().partition("/")
    return host_asset(address or None, name or None)


class TestsslCsv(Parser):
    """testssl.sh 3.x CSV output."""

    __test__ = False  # not a pytest test class, despite the name
    format: ClassVar[str] = "testssl-csv"
    scanner: ClassVar[str] = "testssl"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """The testssl.sh header ``id, fqdn/ip, port, severity, finding``."""
        header = _csv.header_of(head)
        return header is not None and set(_SIGNATURE) <= set(header)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each target host and TLS port once, and the weaknesses found on them."""
        seen: set[tuple[str, int | None]] = set()
        for row in _csv.rows(stream, signatures=(_SIGNATURE,), what="testssl.sh CSV file"):
            asset = _asset(row)
            if asset is None:
                continue
            port = _csv.port_number(row.get("port"))
            severity = (row.get("severity") or "").strip().upper()
            if row.get("id") == "scanProblem" and severity == "FATAL":
                yield HostObserved(asset=asset, status="down")
                continue
            if (asset.key, None) not in seen:
                seen.add((asset.key, None))
                yield HostObserved(asset=asset)
            if port is not None and (asset.key, port) not in seen:
                seen.add((asset.key, port))
                yield ServiceObserved(asset=asset, port=port, name="tls")
            if severity in _FINDING_SEVERITIES:
                yield FindingObserved(
                    asset=asset,
                    scanner=self.scanner,
                    title=f"{row.get('id')}: {row.get('finding')}".strip()[:300],
                    severity=severity_from_word(severity),
                    rule_id=_csv.pick(row, "id"),
                    port=port,
                    protocol="tcp" if port else None,
                    description=_csv.pick(row, "finding"),
                    cve=cve_ids(row.get("cve")),
                    cwe=cwe_ids(*(row.get("cwe") or "").split()),
                )
