"""Read models the gateway owns."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from shared.contracts import WorkspaceCreated
from shared.projections import Projection

if TYPE_CHECKING:
    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("WorkspacesProjection",)


class WorkspacesProjection(Projection):
    """One row per workspace, for listing and for checking that a workspace exists."""

    name: ClassVar[str] = "api.workspaces"
    event_types: ClassVar[frozenset[str]] = frozenset({WorkspaceCreated.type_name()})
    tables: ClassVar[tuple[str, ...]] = ("api_workspaces",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Insert the workspace a `WorkspaceCreated` announces."""
        match event.data:
            case WorkspaceCreated(workspace_id=workspace_id, name=name, description=description):
                await conn.execute(
                    "INSERT INTO api_workspaces"
                    " (workspace_id, name, description, created_at, created_by, position)"
                    " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id) DO NOTHING",
                    workspace_id,
                    name,
                    description,
                    event.recorded_at,
                    event.metadata.actor,
                    event.position,
                )
