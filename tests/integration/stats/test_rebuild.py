"""The stats read models are a pure function of the log: batch, one-at-a-time and rebuild agree."""

from __future__ import annotations

import asyncpg
import msgspec

from services.stats.projections import StatsProjection
from services.stats.runner import StatsRunner
from shared.contracts import Event, FindingStatus
from shared.eventstore import EventStore
from shared.projections import ProjectionRunner
from tests.integration.stats.support import (
    append_findings,
    closed,
    detected,
    fingerprint,
    forget_workspace,
    snapshot,
    status_changed,
)


def history(workspace_id: str) -> list[list[Event]]:
    """Three appends: 40 detections, 10 closures, then analyst changes and re-detections."""
    first: list[Event] = [detected(workspace_id, n) for n in range(40)]
    second: list[Event] = [closed(workspace_id, n) for n in range(0, 40, 4)]
    third: list[Event] = [
        status_changed(workspace_id, fingerprint(workspace_id, 1), FindingStatus.RISK_ACCEPTED),
        status_changed(workspace_id, fingerprint(workspace_id, 2), FindingStatus.FALSE_POSITIVE),
        status_changed(workspace_id, fingerprint(workspace_id, 3), FindingStatus.FIXED),
        status_changed(workspace_id, fingerprint(workspace_id, 4), FindingStatus.OPEN, "fixed"),
        detected(workspace_id, 5),
    ]
    return [first, second, third]


async def test_batches_one_at_a_time_and_rebuild_give_identical_tables(
    stats_schema: None, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    runner = StatsRunner(pool, notify=False)
    for events in history(workspace_id):
        head = await append_findings(store, workspace_id, events)
        await runner.catch_up(workspace_id, head)
    live = await snapshot(pool, workspace_id)
    assert len(live["stats_findings"]) == 40
    assert live["stats_mttr"]

    await forget_workspace(pool, workspace_id)
    await ProjectionRunner(pool, [StatsProjection()]).catch_up(workspace_id, head)
    assert await snapshot(pool, workspace_id) == live

    await forget_workspace(pool, workspace_id)
    await runner.catch_up(workspace_id, head)
    assert await snapshot(pool, workspace_id) == live


async def test_a_findings_cve_and_cwe_lists_are_stored_as_given(
    stats_schema: None, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    # The batch upsert carries each row's lists as JSON: order, quotes, commas and
    # non-ASCII text must come through, and an empty list stays empty.
    odd = ("CVE-2024-2", 'x"y,z', "CVE-2024-1", "ünï {}")
    event = detected(workspace_id, 0)
    event = msgspec.structs.replace(
        event, details=msgspec.structs.replace(event.details, cve=odd, cwe=())
    )
    head = await append_findings(store, workspace_id, [event, detected(workspace_id, 1)])
    await StatsRunner(pool, notify=False).catch_up(workspace_id, head)
    rows = await pool.fetch(
        "SELECT fingerprint, cve, cwe FROM stats_findings WHERE workspace_id = $1", workspace_id
    )
    stored = {row["fingerprint"]: (row["cve"], row["cwe"]) for row in rows}
    assert stored[fingerprint(workspace_id, 0)] == (list(odd), [])
    assert stored[fingerprint(workspace_id, 1)] == (["CVE-2024-1"], ["CWE-80"])
