"""Every parser vigil knows, in the order format detection tries them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.ingest.parsers.base import SNIFF_BYTES
from services.ingest.parsers.errors import UnsupportedFormat

if TYPE_CHECKING:
    from services.ingest.parsers.base import Parser

__all__ = ("PARSERS", "detect_format", "parser_for")

# --- XML formats (most specific root elements first) ---
_XML_PARSERS: tuple[type[Parser], ...] = ()
# --- end XML formats ---

# --- JSON, JSONL and CSV formats (generic formats last) ---
_TEXT_PARSERS: tuple[type[Parser], ...] = ()
# --- end JSON, JSONL and CSV formats ---

PARSERS: tuple[type[Parser], ...] = _XML_PARSERS + _TEXT_PARSERS


def detect_format(head: bytes) -> type[Parser]:
    """The parser for a file whose first `SNIFF_BYTES` are `head`, judged by content only."""
    for parser in PARSERS:
        if parser.sniff(head[:SNIFF_BYTES]):
            return parser
    if not head.strip():
        raise UnsupportedFormat("The file is empty.")
    raise UnsupportedFormat(
        "vigil does not recognise this file as the output of a supported scanner "
        f"(supported formats: {', '.join(p.format for p in PARSERS)})."
    )


def parser_for(format_name: str) -> type[Parser]:
    """The parser registered under `format_name` (an upload's ``format`` hint)."""
    for parser in PARSERS:
        if parser.format == format_name:
            return parser
    raise UnsupportedFormat(
        f"Unknown format {format_name!r}; choose one of: {', '.join(p.format for p in PARSERS)}."
    )
