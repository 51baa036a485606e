"""Renderers: one module per format, each a function from the report model to bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.reports.render.as_csv import render_csv
from services.reports.render.as_html import render_html
from services.reports.render.as_json import render_json
from services.reports.render.as_markdown import render_markdown
from services.reports.render.as_pdf import render_pdf
from shared.contracts import ReportFormat

if TYPE_CHECKING:
    from collections.abc import Callable

    from services.reports.render.model import ReportModel

__all__ = ("RENDERERS", "render")

RENDERERS: dict[ReportFormat, Callable[[ReportModel], bytes]] = {
    ReportFormat.PDF: render_pdf,
    ReportFormat.HTML: render_html,
    ReportFormat.MARKDOWN: render_markdown,
    ReportFormat.CSV: render_csv,
    ReportFormat.JSON: render_json,
}


def render(model: ReportModel, format: ReportFormat) -> bytes:
    """The report in `format`."""
    return RENDERERS[format](model)
