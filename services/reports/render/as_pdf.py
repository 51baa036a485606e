"""PDF through Typst (PyPI ``typst``: the compiler and its fonts, no system libraries).

The layout is a fixed Typst file (``report.typ``); the report model goes in
as ``data.json``, read with Typst's ``json()`` and shown as text values, so
scanner text is never parsed as Typst markup. Charts go in as SVG files.
System fonts are ignored and the creation time is the request's, so one
request renders to the same PDF on any machine.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import typst

from services.reports.render.charts import open_over_time_svg, severity_svg
from services.reports.render.wording import posture_sentence, summary_sentence, trend_sentence

if TYPE_CHECKING:
    from services.reports.render.model import ReportModel

__all__ = ("render_pdf",)

_encode = msgspec.json.Encoder().encode
_TEMPLATE = "report.typ"


def render_pdf(model: ReportModel) -> bytes:
    """The report as a PDF document."""
    data = {
        "model": model,
        "text": {
            "posture": posture_sentence(model),
            "summary": summary_sentence(model),
            "trend": trend_sentence(model),
        },
    }
    with tempfile.TemporaryDirectory(prefix="vigil-report-") as folder:
        root = Path(folder)
        template = resources.files("services.reports.render") / _TEMPLATE
        (root / "report.typ").write_bytes(template.read_bytes())
        (root / "data.json").write_bytes(_encode(data))
        (root / "severity.svg").write_text(severity_svg(model), encoding="utf-8")
        (root / "open.svg").write_text(open_over_time_svg(model), encoding="utf-8")
        return typst.compile(
            root / "report.typ",
            root=root,
            ignore_system_fonts=True,
            format="pdf",
            timestamp=dt.datetime.fromisoformat(model.requested_at).replace(microsecond=0),
        )
