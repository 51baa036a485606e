"""JSON: the whole report model, as data for other tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from services.reports.render.model import ReportModel

__all__ = ("render_json",)

_encode = msgspec.json.Encoder().encode


def render_json(model: ReportModel) -> bytes:
    """The model as one JSON document (field order fixed, so output is reproducible)."""
    return _encode(model) + b"\n"
