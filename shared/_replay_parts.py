"""Which workspaces each part of a replay's bulk pass takes (see `shared._replay_bulk`).

Parts are balanced by the number of events each workspace has in the range
to replay: the largest workspaces go first, each to the part with the least
work so far. The assignment is kept in the shadow schema (``replay_parts``)
and never changes while an interrupted replay depends on it: a part resumes
from its own progress, which only means something for the same workspaces.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shared._shadow import quote

if TYPE_CHECKING:
    from shared.database import Connection

__all__ = ("LogShape", "assign_parts", "log_shape")


@dataclasses.dataclass(frozen=True)
class LogShape:
    """The workspaces of the log up to a position: where each starts, how much it has in range."""

    first: dict[str, int]
    """Each workspace's first position."""
    events: dict[str, int]
    """Each workspace's events in the range to replay."""


async def log_shape(conn: Connection, after: int, up_to: int) -> LogShape:
    """The workspaces with events up to `up_to`, and their events in (`after`, `up_to`]."""
    rows = await conn.fetch(
        "SELECT workspace_id, min(position) AS first,"
        " count(*) FILTER (WHERE position > $1) AS events"
        " FROM events WHERE position <= $2 GROUP BY workspace_id",
        after,
        up_to,
    )
    return LogShape(
        first={row["workspace_id"]: row["first"] for row in rows},
        events={row["workspace_id"]: row["events"] for row in rows if row["events"]},
    )


async def assign_parts(
    conn: Connection, schema: str, shape: LogShape, parts: int, *, keep: bool
) -> list[list[str]]:
    """Each part's workspaces; `keep` extends the stored assignment instead of starting anew.

    A new assignment has `parts` parts (one when `parts` < 2); a kept one
    keeps its own number of parts and gives the workspaces it lacks to the
    parts with the least work.
    """
    table = f"{quote(schema)}.replay_parts"
    if not keep:
        await conn.execute(f"DELETE FROM {table}")
    stored = {
        row["workspace_id"]: row["part"]
        for row in await conn.fetch(f"SELECT workspace_id, part FROM {table}")
    }
    count = max(stored.values(), default=max(parts, 1) - 1) + 1
    load = [0] * count
    for workspace, part in stored.items():
        load[part] += shape.events.get(workspace, 0)
    new: dict[str, int] = {}
    for workspace in sorted(shape.events, key=lambda w: (-shape.events[w], w)):
        if workspace not in stored:
            part = min(range(count), key=lambda p: (load[p], p))
            new[workspace] = part
            load[part] += shape.events[workspace]
    if new:
        await conn.executemany(
            f"INSERT INTO {table} (workspace_id, part) VALUES ($1, $2)", list(new.items())
        )
    assignment: list[list[str]] = [[] for _ in range(count)]
    for workspace, part in {**stored, **new}.items():
        assignment[part].append(workspace)
    return assignment
