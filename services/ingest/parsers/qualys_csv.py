"""Qualys VM scan report CSV (``IP, DNS, NetBIOS, OS, QID, Title, Severity, ...``).

Qualys severities are 1-5 (minimal to urgent). Only the simple report layout
whose header is the first line is read; Qualys "report" CSVs with a preamble
of metadata lines before the header are not recognised.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, ClassVar

import msgspec

from services.ingest.parsers import _csv
from services.ingest.parsers._assets import host_asset
from services.ingest.parsers._normalise import cve_ids, parse_float
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Item

__all__ = ("QualysCsv",)

_SIGNATURE = ("ip", "qid", "title", "severity")
_LEVELS = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_VECTOR = re.compile(r"\(([^)]*)\)")


def _severity(value: str | None) -> Severity:
    if value and value.strip().isdigit():
        return _LEVELS[max(1, min(int(value), 5)) - 1]
    return Severity.INFO


class QualysCsv(Parser):
    """Qualys VM scan results exported as CSV."""

    format: ClassVar[str] = "qualys-csv"
    scanner: ClassVar[str] = "qualys"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A CSV header with ``IP``, ``QID``, ``Title`` and ``Severity``."""
        header = _csv.header_of(head)
        return header is not None and set(_SIGNATURE) <= set(header)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each host once and one finding per row."""
        seen: set[str] = set()
        for row in _csv.rows(stream, signatures=(_SIGNATURE,), what="Qualys CSV file"):
            asset = host_asset(_csv.pick(row, "ip"), _csv.pick(row, "dns", "fqdn", "netbios"))
            if asset is None:
                continue
            asset = msgspec.structs.replace(asset, os=_csv.pick(row, "os"))
            if asset.key not in seen:
                seen.add(asset.key)
                yield HostObserved(asset=asset)
            port = _csv.port_number(row.get("port"))
            base = _csv.pick(row, "cvss3 base") or ""
            vector = _VECTOR.search(base)
            yield FindingObserved(
                asset=asset,
                scanner=self.scanner,
                title=_csv.pick(row, "title") or "Qualys vulnerability",
                severity=_severity(_csv.pick(row, "severity")),
                rule_id=_csv.pick(row, "qid"),
                port=port,
                protocol=(_csv.pick(row, "protocol") or "tcp").lower() if port else None,
                description=_csv.pick(row, "threat", "impact"),
                solution=_csv.pick(row, "solution"),
                cve=cve_ids(_csv.pick(row, "cve id")),
                cvss_vector=vector.group(1) if vector else None,
                cvss_score=parse_float(base.split(" ", 1)[0] if base else None),
            )
