"""CSV: one row per finding, for spreadsheets.

Fields are quoted by the csv module; a cell that a spreadsheet would run as
a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return)
gets a leading apostrophe, as OWASP advises against CSV injection.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from services.reports.render.model import rows

if TYPE_CHECKING:
    from services.reports.render.model import FindingRow, ReportModel

__all__ = ("COLUMNS", "render_csv", "spreadsheet_safe")

COLUMNS = (
    "fingerprint",
    "severity",
    "status",
    "title",
    "asset_kind",
    "asset_key",
    "port",
    "protocol",
    "rule_id",
    "location",
    "cve",
    "cwe",
    "cvss_score",
    "first_seen",
    "last_seen",
    "closed_at",
    "scanners",
    "observations",
    "solution",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """`value`, prefixed with an apostrophe when a spreadsheet would take it for a formula."""
    return "'" + value if value.startswith(_FORMULA) else value


def _cells(row: FindingRow) -> list[str]:
    return [
        spreadsheet_safe(cell)
        for cell in (
            row.fingerprint,
            row.severity,
            row.status,
            row.title,
            row.asset_kind,
            row.asset_key,
            "" if row.port is None else str(row.port),
            row.protocol or "",
            row.rule_id or "",
            row.location or "",
            " ".join(row.cve),
            " ".join(row.cwe),
            "" if row.cvss_score is None else str(row.cvss_score),
            row.first_seen,
            row.last_seen,
            row.closed_at or "",
            " ".join(row.scanners),
            str(row.observations),
            row.solution,
        )
    ]


def render_csv(model: ReportModel) -> bytes:
    """A header row, then the findings (by asset for a remediation plan)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(row) for row in rows(model))
    return out.getvalue().encode("utf-8")
