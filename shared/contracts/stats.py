"""Events of the stats context: one stream per workspace, ``stats-<workspace>``."""

from __future__ import annotations

from typing import ClassVar

from shared.contracts.base import Event, register

__all__ = ("StatsEvent", "StatsUpdated", "stats_stream")


def stats_stream(workspace_id: str) -> str:
    """The id of the stream that holds a workspace's statistics notifications."""
    return f"stats-{workspace_id}"


@register
class StatsUpdated(Event, frozen=True, tag="StatsUpdated"):
    """A workspace's statistics changed; dashboards refetch ``/stats`` (or use these figures).

    Throttled: the stats service records at most about one per workspace per
    second, however many findings changed. `position` is the log position of
    the last finding or asset event the statistics reflect; it only grows
    along the stream. Counts are of findings; `open_*` are open or reopened
    findings per severity.
    """

    context: ClassVar[str] = "stats"

    workspace_id: str
    position: int
    findings: int
    open: int
    open_critical: int = 0
    open_high: int = 0
    open_medium: int = 0
    open_low: int = 0
    open_info: int = 0
    risk_score: float = 0.0


StatsEvent = StatsUpdated
