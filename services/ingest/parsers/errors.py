"""Why a scan file could not be imported, in words a user understands."""

from __future__ import annotations

__all__ = ("ScanRejected", "UnsupportedFormat")


class ScanRejected(Exception):
    """The file is of a known format but cannot be imported (truncated, hostile, malformed).

    The message is shown to the user as the reason of `ScanFailed`.
    """


class UnsupportedFormat(ScanRejected):
    """No parser recognises the file's content."""
