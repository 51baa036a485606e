"""Streaming CSV mechanics shared by the CSV parsers.

Exports differ in delimiter (Tenable.io uses ``;``), repeat or leave header
names empty, and put newlines inside quoted cells; rows are read one at a time
from a UTF-8 text wrapper over the byte stream, never the whole file at once.
"""

from __future__ import annotations

import csv
import io
from typing import IO, TYPE_CHECKING

from services.ingest.parsers._json import require_content
from services.ingest.parsers.errors import ScanRejected

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

__all__ = ("Row", "header_of", "normalise_header", "pick", "port_number", "rows")

Row = dict[str, str]
"""One data row: normalised header name -> cell text (missing cells are "")."""

_FIELD_LIMIT = 16 * 1024 * 1024
# Nessus "Plugin Output" cells can exceed the csv module's default 128 KiB limit.
csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))


def normalise_header(names: list[str]) -> list[str]:
    """Header names stripped and lower-cased; empty ones become ``column_<n>`` (1-based).

    A repeated name gets a ``_2``, ``_3``... suffix so no column hides another.
    """
    seen: dict[str, int] = {}
    result: list[str] = []
    for number, raw in enumerate(names, start=1):
        name = raw.strip().strip("\ufeff").lower() or f"column_{number}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        result.append(name)
    return result


def _delimiter(line: str) -> str:
    """``;`` when the header line splits into more fields by it than by ``,``."""
    by_comma = len(next(csv.reader([line], delimiter=","), []))
    by_semicolon = len(next(csv.reader([line], delimiter=";"), []))
    return ";" if by_semicolon > by_comma else ","


def header_of(head: bytes) -> list[str] | None:
    """The normalised header of a CSV file whose start is `head`, None when it is not CSV-like.

    Used by `sniff`: cheap, never raises, looks at the first line only.
    """
    text = head.decode("utf-8", "ignore")
    line = text.split("\n", 1)[0].rstrip("\r")
    if not line.strip() or line.lstrip()[:1] in ("{", "[", "<"):
        return None
    try:
        names = next(csv.reader([line], delimiter=_delimiter(line)), [])
    except csv.Error:
        return None
    return normalise_header(names) if len(names) > 1 else None


def rows(
    stream: IO[bytes],
    *,
    signatures: Collection[Collection[str]] = (),
    what: str = "CSV file",
) -> Iterator[Row]:
    """Every data row of a CSV file, keyed by normalised header name.

    A header-only file yields nothing. Blank lines are skipped.

    Args:
        stream: the file, read incrementally.
        signatures: sets of normalised column names; the header must contain every
            name of at least one of them (the format's signature). Empty: no check.
        what: how messages name the file (``"Tenable CSV export"``).

    Raises:
        ScanRejected: empty file, not UTF-8, no signature matched, or broken quoting.
    """
    require_content(stream)
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    try:
        yield from _read(text, signatures, what)
    except UnicodeDecodeError as exc:
        raise ScanRejected(f"The {what} is not valid UTF-8 text.") from exc
    finally:
        text.detach()


def _read(
    text: io.TextIOWrapper, signatures: Collection[Collection[str]], what: str
) -> Iterator[Row]:
    first = text.readline()
    delimiter = _delimiter(first)
    header = normalise_header(next(csv.reader([first], delimiter=delimiter), []))
    if signatures and not any(all(n in header for n in sig) for sig in signatures):
        expected = " or ".join(", ".join(sorted(sig)) for sig in signatures)
        raise ScanRejected(
            f"The {what} lacks the expected columns ({expected}); is it the right format?"
        )
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            row = dict(zip(header, cells, strict=False))
            for name in header[len(cells) :]:
                row[name] = ""
            yield row
    except csv.Error as exc:
        raise ScanRejected(
            f"The {what} is malformed near line {reader.line_num + 1:,}: {exc}."
        ) from exc


def pick(row: Row, *names: str) -> str | None:
    """The first non-empty, stripped cell among the columns `names` (normalised names)."""
    for name in names:
        value = row.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def port_number(value: str | None) -> int | None:
    """A TCP/UDP port from a cell; None for blanks, 0 and anything not a port."""
    if value is None or not value.strip().isdigit():
        return None
    port = int(value.strip())
    return port if 0 < port < 65536 else None
