"""Workspace commands and queries: what the workspace routes delegate to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from services.api.projections import WorkspacesProjection
from services.api.schemas import Workspace
from shared.contracts.workspace import WorkspaceCreated, workspace_stream
from shared.eventstore import ConcurrencyError
from shared.projections import ProjectionTimeout

if TYPE_CHECKING:
    import asyncpg

    from shared.contracts.base import EventMetadata
    from shared.eventstore import EventStore
    from shared.projections import ProjectionRunner

__all__ = ("WorkspaceExists", "create_workspace", "get_workspace", "list_workspaces")

_log = structlog.get_logger("vigil.api")
_COLUMNS = "workspace_id, name, description, created_at, created_by, position"


class WorkspaceExists(Exception):
    """A workspace with this id was created before; nothing was written."""

    def __init__(self, workspace_id: str) -> None:
        super().__init__(f"workspace {workspace_id!r} already exists")
        self.workspace_id = workspace_id


async def create_workspace(
    store: EventStore,
    runner: ProjectionRunner,
    *,
    workspace_id: str,
    name: str,
    description: str,
    metadata: EventMetadata,
) -> Workspace:
    """Record `WorkspaceCreated` as the first event of the workspace's stream.

    Returns once the workspaces read model shows it (read-your-writes), or,
    if the read model lags beyond its deadline, as soon as the event is
    committed: the log is the truth and the read model will follow.

    Raises:
        WorkspaceExists: the workspace's stream already has events.
    """
    event = WorkspaceCreated(workspace_id=workspace_id, name=name, description=description)
    try:
        [recorded] = await store.append_to_stream(
            workspace_stream(workspace_id),
            workspace_id,
            [event],
            expected_version=0,
            metadata=metadata,
        )
    except ConcurrencyError:
        raise WorkspaceExists(workspace_id) from None
    try:
        await runner.wait_for(WorkspacesProjection.name, workspace_id, recorded.position)
    except ProjectionTimeout:
        _log.warning("workspaces read model lags", workspace=workspace_id)
    return Workspace(
        id=workspace_id,
        name=name,
        description=description,
        created_at=recorded.recorded_at,
        created_by=metadata.actor,
        position=recorded.position,
    )


def _workspace(row: asyncpg.Record) -> Workspace:
    return Workspace(
        id=row["workspace_id"],
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        position=row["position"],
    )


async def list_workspaces(pool: asyncpg.Pool, *, only: str | None = None) -> list[Workspace]:
    """Every workspace in creation order, or just `only` when a token is scoped to it."""
    async with pool.acquire() as conn:
        if only is None:
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM api_workspaces ORDER BY position")
        else:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM api_workspaces WHERE workspace_id = $1", only
            )
    return [_workspace(row) for row in rows]


async def get_workspace(pool: asyncpg.Pool, workspace_id: str) -> Workspace | None:
    """One workspace from the read model, or None."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM api_workspaces WHERE workspace_id = $1", workspace_id
        )
    return _workspace(row) if row else None
