"""``/api/v1/workspaces/{workspace_id}/hosts`` and ``.../services``: what scans found where."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from services.api.inventory import list_hosts, list_services
from services.api.inventory_schemas import HostPage, ServicePage
from services.api.readmodels import workspace_for
from shared.eventstore import EventStore

__all__ = ("AssetController",)

_Cursor = Annotated[str | None, QueryParameter(description="`next_cursor` of a page")]
_Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size")]


class AssetController(Controller):
    """Assets (hosts, images, repositories, websites) and their network services."""

    path = "/api/v1/workspaces/{workspace_id:str}"
    tags = ("assets",)

    @get("/hosts", summary="List hosts and other assets")
    async def hosts(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        kind: Annotated[
            str | None, QueryParameter(description="host, image, repository or website")
        ] = None,
        q: Annotated[
            str | None, QueryParameter(description="Part of the key, address or a hostname")
        ] = None,
        cursor: _Cursor = None,
        limit: _Limit = 50,
    ) -> HostPage:
        """The workspace's assets, most recently changed first."""
        await workspace_for(request, pool, store, workspace_id)
        return await list_hosts(pool, workspace_id, kind=kind, q=q, cursor=cursor, limit=limit)

    @get("/services", summary="List services")
    async def services(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        asset: Annotated[str | None, QueryParameter(description="Asset id or key")] = None,
        port: Annotated[int | None, QueryParameter(ge=0, le=65535, description="Port")] = None,
        protocol: Annotated[str | None, QueryParameter(description="tcp, udp, ...")] = None,
        name: Annotated[str | None, QueryParameter(description="Service name, e.g. ssh")] = None,
        cursor: _Cursor = None,
        limit: _Limit = 50,
    ) -> ServicePage:
        """The workspace's services, by asset, port and protocol."""
        await workspace_for(request, pool, store, workspace_id)
        return await list_services(
            pool,
            workspace_id,
            asset=asset,
            port=port,
            protocol=protocol,
            name=name,
            cursor=cursor,
            limit=limit,
        )
