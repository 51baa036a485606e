"""Charts as SVG text we generate ourselves: embedded inline in HTML and as images in the PDF.

No chart library, no external assets, and every label goes through XML
escaping (labels are severities, numbers and dates, but escaping costs
nothing and keeps the SVG well-formed whatever they become).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from services.reports.render.model import ReportModel

__all__ = ("SEVERITY_COLOURS", "open_over_time_svg", "severity_svg")

SEVERITY_COLOURS = {
    "critical": "#8e1b1b",
    "high": "#d9480f",
    "medium": "#e6a700",
    "low": "#1c6fb8",
    "info": "#6b7785",
}
_FONT = 'font-family="sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>{"".join(body)}</svg>'
    )


def severity_svg(model: ReportModel, width: int = 480, height: int = 220) -> str:
    """Horizontal bars: findings per severity, the open part dark, the rest light."""
    top, row = 16, (height - 32) // 5
    left, right = 80, 60
    span = width - left - right
    largest = max((c.total for c in model.by_severity), default=0) or 1
    body = []
    for i, count in enumerate(model.by_severity):
        y = top + i * row
        colour = SEVERITY_COLOURS[count.severity]
        full = round(span * count.total / largest)
        open_part = round(span * count.open / largest)
        body += [
            f'<text x="{left - 8}" y="{y + row * 0.6:.1f}" text-anchor="end" {_FONT}'
            f' fill="#222">{escape(count.severity.capitalize())}</text>',
            f'<rect x="{left}" y="{y + 4}" width="{full}" height="{row - 8}"'
            f' fill="{colour}" fill-opacity="0.3"/>',
            f'<rect x="{left}" y="{y + 4}" width="{open_part}" height="{row - 8}"'
            f' fill="{colour}"/>',
            f'<text x="{left + full + 6}" y="{y + row * 0.6:.1f}" {_FONT} fill="#222">'
            f"{count.open:,} / {count.total:,}</text>",
        ]
    body.append(f'<text x="{left}" y="{height - 4}" {_FONT} fill="#555">open / all findings</text>')
    return _svg(width, height, body, "Findings by severity")


def open_over_time_svg(model: ReportModel, width: int = 480, height: int = 220) -> str:
    """A line of open findings per day (the last 90 days of the log, at most)."""
    left, right, top, bottom = 48, 16, 16, 36
    span_x, span_y = width - left - right, height - top - bottom
    points = model.series
    body = [
        f'<line x1="{left}" y1="{top + span_y}" x2="{left + span_x}" y2="{top + span_y}"'
        ' stroke="#999" stroke-width="1"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + span_y}"'
        ' stroke="#999" stroke-width="1"/>',
    ]
    if not points:
        body.append(
            f'<text x="{width // 2}" y="{height // 2}" text-anchor="middle" {_FONT}'
            ' fill="#555">No findings yet</text>'
        )
        return _svg(width, height, body, "Open findings over time")
    largest = max(p.open for p in points) or 1
    step = span_x / max(len(points) - 1, 1)
    coords = [
        (left + i * step, top + span_y - span_y * p.open / largest) for i, p in enumerate(points)
    ]
    if len(coords) == 1:
        x, y = coords[0]
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#1c6fb8"/>')
    else:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline points="{path}" fill="none" stroke="#1c6fb8" stroke-width="2"/>')
    body += [
        f'<text x="{left - 6}" y="{top + 8}" text-anchor="end" {_FONT} fill="#222">'
        f"{largest:,}</text>",
        f'<text x="{left - 6}" y="{top + span_y}" text-anchor="end" {_FONT} fill="#222">0</text>',
        f'<text x="{left}" y="{height - 18}" {_FONT} fill="#222">{escape(points[0].day)}</text>',
        f'<text x="{left + span_x}" y="{height - 18}" text-anchor="end" {_FONT} fill="#222">'
        f"{escape(points[-1].day)}</text>",
        f'<text x="{left}" y="{height - 4}" {_FONT} fill="#555">'
        f"open findings at the end of each day ({points[-1].open:,} now)</text>",
    ]
    return _svg(width, height, body, "Open findings over time")
