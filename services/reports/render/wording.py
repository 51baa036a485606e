"""The sentences a manager reads first, worded once for every format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.reports.render.model import ReportModel

__all__ = ("posture_sentence", "summary_sentence", "trend_sentence")


def summary_sentence(model: ReportModel) -> str:
    """Counts in one sentence: how many findings, how many open, of which severities."""
    if model.total == 0:
        return "No findings are recorded for this selection."
    worst = ", ".join(f"{c.open:,} {c.severity}" for c in model.by_severity if c.open)
    return f"{model.total:,} findings are recorded, {model.open:,} of them open" + (
        f" ({worst})." if worst else "."
    )


def posture_sentence(model: ReportModel) -> str:
    """The risk posture and score, with what the score means."""
    return (
        f"Risk posture: {model.posture} (risk score {model.risk_score:,}: 10 per open critical,"
        " 5 per high, 2 per medium, 0.5 per low finding)."
    )


def trend_sentence(model: ReportModel) -> str:
    """Open findings against the previous report of the same workspace and template."""
    trend = model.trend
    if trend.change is None or trend.open_before is None:
        return "This is the first report of this kind for the workspace: no trend yet."
    if trend.change == 0:
        direction = "unchanged"
    elif trend.change > 0:
        direction = f"up {trend.change:,}"
    else:
        direction = f"down {-trend.change:,}"
    return (
        f"Open findings are {direction} since the previous report"
        f" ({trend.previous_requested_at}): {trend.open_before:,} then, {trend.open_now:,} now."
    )
