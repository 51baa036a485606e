"""Opaque page cursors: the last row's sort key, encoded so clients cannot depend on it.

A cursor is URL-safe base64 of a small JSON document; it names the listing
and ordering it belongs to, so a cursor reused with another sort is refused
instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

import msgspec

from services.api.errors import bad_request

__all__ = ("decode_cursor", "encode_cursor")

C = TypeVar("C", bound=msgspec.Struct)
_encode = msgspec.json.Encoder().encode


def encode_cursor(position: msgspec.Struct) -> str:
    """The opaque form of a page position."""
    return base64.urlsafe_b64encode(_encode(position)).decode().rstrip("=")


def decode_cursor(text: str, kind: type[C]) -> C:
    """A page position from its opaque form.

    Raises:
        ProblemDetailsException: 400 when the cursor was not made by this listing.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return msgspec.json.decode(raw, type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise bad_request(
            "The cursor is not valid here: pass back the `next_cursor` of the previous page, "
            "with the same filters and sort."
        ) from None
