"""The ingest service's read models as the gateway reads them (never writes).

The tables belong to ingest (see ``services/ingest/README.md``); the gateway
only queries them, and does not import the ingest package: no service
imports another. Until ingest has run once, the tables do not exist, which
the gateway answers with a 503 that says so.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg

from services.api.auth import principal_of
from services.api.errors import forbidden, not_found, problem
from services.api.workspaces import get_workspace
from shared.contracts.workspace import workspace_stream

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar.connection import ASGIConnection

    from shared.eventstore import EventStore

__all__ = ("INVENTORY_PROJECTION", "ingest_tables", "workspace_for", "writable_workspace")

INVENTORY_PROJECTION = "ingest.inventory"
"""Name of the ingest projection that keeps hosts, services and findings
(``services.ingest.projections.InventoryProjection.name``; spelled out here
because the gateway does not import the ingest service)."""


@contextlib.contextmanager
def ingest_tables() -> Iterator[None]:
    """Turn "the ingest read models do not exist yet" into a 503 problem."""
    try:
        yield
    except asyncpg.UndefinedTableError:
        raise problem(
            503,
            "The ingest service has not created its read models yet; start it "
            "(`vigil up` runs every service) and try again.",
        ) from None


def _authorise(
    connection: ASGIConnection[Any, Any, Any, Any], workspace_id: str, *, write: bool
) -> None:
    principal = principal_of(connection)
    if not principal.may_access(workspace_id):
        verb = "write to" if write else "read"
        raise forbidden(f"This token may not {verb} workspace {workspace_id!r}.")
    if write and not principal.may_write(workspace_id):
        raise forbidden(f"A {principal.role} token may only read; this needs analyst or admin.")


async def workspace_for(
    connection: ASGIConnection[Any, Any, Any, Any],
    pool: asyncpg.Pool,
    store: EventStore,
    workspace_id: str,
    *,
    write: bool = False,
) -> str:
    """`workspace_id`, once the caller may read it (or, with `write`, record facts in it).

    A workspace the read model does not show yet but the log holds (it was
    created a moment ago) exists: the log is the truth.

    Raises:
        ProblemDetailsException: 403 outside the token's scope or, with `write`,
            for a viewer; 404 for an unknown workspace.
    """
    _authorise(connection, workspace_id, write=write)
    if await get_workspace(pool, workspace_id) is None and not await store.read_stream(
        workspace_stream(workspace_id)
    ):
        raise not_found(f"There is no workspace {workspace_id!r}.")
    return workspace_id


async def writable_workspace(
    connection: ASGIConnection[Any, Any, Any, Any], pool: asyncpg.Pool, workspace_id: str
) -> str:
    """`workspace_id`, once the caller may record facts in it and the read model shows it.

    Raises:
        ProblemDetailsException: 403 for a viewer or a token scoped elsewhere,
            404 for an unknown workspace.
    """
    _authorise(connection, workspace_id, write=True)
    if await get_workspace(pool, workspace_id) is None:
        raise not_found(f"There is no workspace {workspace_id!r}.")
    return workspace_id
