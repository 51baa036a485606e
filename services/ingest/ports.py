"""What the ingest service needs from outside its domain, as small interfaces."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from services.ingest.parsers.base import Parser

__all__ = ("Formats",)


class Formats(Protocol):
    """The scan formats an importer knows: `services.ingest.parsers.registry` is the real one."""

    def detect_format(self, head: bytes) -> type[Parser]:
        """The parser for a file starting with `head`; raises `UnsupportedFormat`."""
        ...

    def parser_for(self, format_name: str) -> type[Parser]:
        """The parser registered under a format name; raises `UnsupportedFormat`."""
        ...
