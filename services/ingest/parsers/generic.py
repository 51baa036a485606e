"""vigil's own generic formats, for tools vigil has no parser for: CSV and JSON (Lines).

The documentation for users is ``docs/generic-format.md``. Both formats carry
the same fields; ``host``, ``title`` and ``severity`` are required, every other
field is optional, and no other field is allowed, which keeps detection strict:
a file is only taken for a generic one when all its columns (keys) are vigil's.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _csv, _json
from services.ingest.parsers._assets import host_asset, web_target
from services.ingest.parsers._normalise import clean_text, cve_ids, cwe_ids
from services.ingest.parsers.base import Parser
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from services.ingest.parsers.model import Item

__all__ = ("FIELDS", "REQUIRED", "GenericCsv", "GenericJson", "finding_from_record")

REQUIRED = ("host", "title", "severity")
"""Fields every record must have."""

FIELDS = (
    *REQUIRED,
    "port",
    "protocol",
    "cve",
    "cwe",
    "cvss_score",
    "cvss_vector",
    "description",
    "solution",
    "references",
    "evidence",
    "location",
)
"""Every field the generic formats know, in the documented column order."""

_SEPARATORS = re.compile(r"[\s,;]+")


def _conforms(fields: set[str]) -> bool:
    return set(REQUIRED) <= fields and fields <= set(FIELDS)


def _list(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(part for part in _SEPARATORS.split(value) if part)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value if v.strip())
    raise ScanRejected(f"{where}: {field} must be a string or a list of strings.")


def _text(value: Any, field: str, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ScanRejected(f"{where}: {field} must be text.")


def _port(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
        raise ScanRejected(f"{where}: port must be a number from 1 to 65535, not {value!r}.")
    return int(text)


def _score(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        score = -1.0
    if isinstance(value, bool) or not 0.0 <= score <= 10.0:
        raise ScanRejected(f"{where}: cvss_score must be a number from 0 to 10, not {value!r}.")
    return score


def finding_from_record(record: Mapping[str, Any], where: str) -> FindingObserved:
    """The finding one generic record describes.

    Args:
        record: field name -> value (CSV cells are strings; JSON may use numbers and lists).
        where: how messages name the record (``"Row 12"``).

    Raises:
        ScanRejected: a required field is empty or a field has an invalid value.
    """
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise ScanRejected(f"{where}: unknown field(s) {', '.join(unknown)}.")
    host, title = (
        _text(record.get("host"), "host", where),
        _text(record.get("title"), "title", where),
    )
    severity_word = (_text(record.get("severity"), "severity", where) or "").lower()
    if not host or not title:
        raise ScanRejected(f"{where}: host and title are required.")
    if severity_word not in Severity.__members__.values():
        allowed = ", ".join(s.value for s in Severity)
        raise ScanRejected(f"{where}: severity must be one of {allowed}, not {severity_word!r}.")
    port = _port(record.get("port"), where)
    location = _text(record.get("location"), "location", where)
    web = web_target(host)
    if web is not None:
        asset, port, location = web.asset, port or web.port, location or web.path
    else:
        found = host_asset(hostname=host)
        if found is None:  # pragma: no cover - host is non-empty here
            raise ScanRejected(f"{where}: host is required.")
        asset = found
    protocol = _text(record.get("protocol"), "protocol", where)
    return FindingObserved(
        asset=asset,
        scanner="generic",
        title=title,
        severity=Severity(severity_word),
        port=port,
        protocol=(protocol or "tcp").lower() if port else None,
        location=location,
        description=_text(record.get("description"), "description", where),
        solution=_text(record.get("solution"), "solution", where),
        references=_list(record.get("references"), "references", where),
        cve=cve_ids(*_list(record.get("cve"), "cve", where)),
        cwe=cwe_ids(*_list(record.get("cwe"), "cwe", where)),
        cvss_vector=_text(record.get("cvss_vector"), "cvss_vector", where),
        cvss_score=_score(record.get("cvss_score"), where),
        evidence=_text(record.get("evidence"), "evidence", where),
    )


class GenericCsv(Parser):
    """vigil generic CSV: a header of vigil's field names, one finding per row."""

    format: ClassVar[str] = "vigil-csv"
    scanner: ClassVar[str] = "generic"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """The header has host, title and severity, and no column vigil does not define."""
        header = _csv.header_of(head)
        return header is not None and _conforms(set(header))

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per data row (row numbers in messages count the header as 1)."""
        rows = _csv.rows(stream, signatures=(REQUIRED,), what="generic CSV file")
        for number, row in enumerate(rows, start=2):
            yield finding_from_record(row, f"Row {number:,}")


class GenericJson(Parser):
    """vigil generic JSON: an array of finding objects, or one object per line (JSON Lines)."""

    format: ClassVar[str] = "vigil-json"
    scanner: ClassVar[str] = "generic"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """The first objects' keys include host, title and severity, and are all vigil's."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root not in ("object", "array"):
            return False
        prefix = "item." if parsed.root == "array" else ""
        if any(not key.startswith(prefix) for key in parsed.keys):
            return False
        return _conforms({key.removeprefix(prefix) for key in parsed.keys})

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per record."""
        for number, record in enumerate(_json.documents(stream), start=1):
            where = f"Record {number:,}"
            yield finding_from_record(_json.mapping(record, where), where)
