"""Which workspace a read is about, and whether the caller's token may read it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.api.auth import principal_of
from services.api.errors import forbidden, not_found
from services.api.workspaces import get_workspace

if TYPE_CHECKING:
    import asyncpg
    from litestar.connection import ASGIConnection

__all__ = ("readable_workspace",)


async def readable_workspace(
    connection: ASGIConnection[Any, Any, Any, Any], pool: asyncpg.Pool, requested: str | None
) -> str | None:
    """The workspace to read (None = all): a scoped token reads its own by default.

    Raises:
        ProblemDetailsException: 403 outside the token's scope, 404 for an unknown workspace.
    """
    principal = principal_of(connection)
    workspace_id = requested or principal.workspace_id
    if workspace_id is None:
        return None
    if not principal.may_access(workspace_id):
        raise forbidden(f"This token may not read workspace {workspace_id!r}.")
    if await get_workspace(pool, workspace_id) is None:
        raise not_found(f"There is no workspace {workspace_id!r}.")
    return workspace_id
