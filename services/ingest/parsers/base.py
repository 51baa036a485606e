"""The one small interface every scanner parser implements."""

from __future__ import annotations

import abc
from typing import IO, TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Item

__all__ = ("SNIFF_BYTES", "Parser")

SNIFF_BYTES = 64 * 1024
"""How much of the start of a file format detection may look at."""


class Parser(abc.ABC):
    """Turns one scanner output format into normalised items.

    A parser reads the file as a stream and yields items as it goes, so that
    memory stays flat however large the file; it raises `ScanRejected` with a
    user-facing reason when the content is malformed, truncated or hostile.
    """

    format: ClassVar[str]
    """Stable name of the format, e.g. ``nmap-xml``; also the ``format`` upload hint."""

    scanner: ClassVar[str]
    """Default scanner name recorded on findings, e.g. ``nmap``."""

    @classmethod
    @abc.abstractmethod
    def sniff(cls, head: bytes) -> bool:
        """Say whether `head` (the first `SNIFF_BYTES` of a file) is in this format."""

    @abc.abstractmethod
    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield the items of the file in `stream`, reading it incrementally."""
