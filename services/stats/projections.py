"""The stats read models: one projection applying finding and asset events batch by batch.

Each batch is folded in memory by a `StatsFold` (see `services.stats._fold`)
and written as its net change; a replay keeps one fold across batches.
Applying events one at a time (as `ProjectionRunner.rebuild` does) goes
through the same code and gives the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from services.stats._fold import ASSET_EVENTS, StatsFold
from shared.contracts import FINDING_EVENT_TYPES
from shared.projections import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("StatsProjection",)


class StatsProjection(Projection):
    """Every ``stats_*`` read model of a workspace (see the service's README)."""

    name: ClassVar[str] = "stats"
    event_types: ClassVar[frozenset[str]] = FINDING_EVENT_TYPES | ASSET_EVENTS
    tables: ClassVar[tuple[str, ...]] = (
        "stats_findings",
        "stats_workspaces",
        "stats_severity_status",
        "stats_assets",
        "stats_services",
        "stats_cves",
        "stats_cwes",
        "stats_open_daily",
        "stats_mttr",
    )

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Apply one event (a batch of one)."""
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply events in log order inside the caller's transaction.

        Ends exactly as applying them one by one would (tested): the batch is
        folded in memory and the tables change by the net difference.
        """
        fold = StatsFold()
        await fold.load(conn, events)
        fold.fold(events)
        await fold.save(conn)

    def start_fold(self, *, empty: bool) -> StatsFold:
        """A fold held across a replay's batches (see `services.stats._fold`)."""
        return StatsFold(empty=empty)
