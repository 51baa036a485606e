"""``/api/v1/workspaces``: create, list and show workspaces."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from services.api import workspaces
from services.api.auth import admin_only, principal_of
from services.api.errors import conflict, forbidden, not_found
from services.api.schemas import CreateWorkspace, Workspace, WorkspaceList
from shared.contracts.base import EventMetadata
from shared.eventstore import EventStore
from shared.projections import ProjectionRunner

__all__ = ("WorkspaceController",)


class WorkspaceController(Controller):
    """Workspaces: the tenancy unit every host, finding and report belongs to."""

    path = "/api/v1/workspaces"
    tags = ("workspaces",)

    @post(guards=[admin_only], status_code=HTTP_201_CREATED, summary="Create a workspace")
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateWorkspace],
        store: NamedDependency[EventStore],
        runner: NamedDependency[ProjectionRunner],
        metadata: NamedDependency[EventMetadata],
    ) -> Workspace:
        """Record `WorkspaceCreated`; answers once the workspace is visible to reads."""
        if not principal_of(request).may_administer(data.id):
            raise forbidden(f"This token is scoped to another workspace than {data.id!r}.")
        try:
            return await workspaces.create_workspace(
                store,
                runner,
                workspace_id=data.id,
                name=data.name,
                description=data.description,
                metadata=metadata,
            )
        except workspaces.WorkspaceExists as exists:
            raise conflict(str(exists)) from None

    @get(summary="List workspaces")
    async def list(
        self, request: Request[Any, Any, Any], pool: NamedDependency[asyncpg.Pool]
    ) -> WorkspaceList:
        """Every workspace the token may see."""
        only = principal_of(request).workspace_id
        return WorkspaceList(workspaces=await workspaces.list_workspaces(pool, only=only))

    @get("/{workspace_id:str}", summary="Show a workspace")
    async def show(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
    ) -> Workspace:
        """One workspace."""
        if not principal_of(request).may_access(workspace_id):
            raise forbidden(f"This token may not read workspace {workspace_id!r}.")
        workspace = await workspaces.get_workspace(pool, workspace_id)
        if workspace is None:
            raise not_found(f"There is no workspace {workspace_id!r}.")
        return workspace
