"""The gateway under uvicorn on a free port, in the tests' event loop, on real servers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import nats
import pytest
import uvicorn
from nats.js import JetStreamContext

from services.api.app import create_app
from services.api.tokens import Role, create_token
from shared.settings import Settings


class Api:
    """Where the running gateway listens."""

    def __init__(self, port: int) -> None:
        self.http = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"


async def _wait_until_healthy(url: str, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url) as client:
        while True:
            if task.done():
                task.result()
                raise AssertionError("uvicorn stopped before it started serving")
            if server.started:
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                raise AssertionError("the gateway did not become healthy within 60 s")
            await asyncio.sleep(0.05)


@pytest.fixture(scope="package")
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The real app served by uvicorn (real sockets, so WebSocket tests are real too)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings),
        lifespan="on",
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        await _wait_until_healthy(f"http://127.0.0.1:{port}", server, task)
        yield Api(port)
    finally:
        server.should_exit = True
        await task
        listener.close()


@pytest.fixture(scope="package")
async def admin_token(api: Api, pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        return await create_token(conn, name="test-admin", role=Role.ADMIN)


@pytest.fixture
async def make_token(api: Api, pool: asyncpg.Pool) -> Callable[..., Awaitable[str]]:
    """Issue a token of a role, optionally scoped to a workspace."""

    async def make(role: Role, workspace_id: str | None = None, name: str = "test") -> str:
        async with pool.acquire() as conn:
            return await create_token(conn, name=name, role=role, workspace_id=workspace_id)

    return make


@pytest.fixture
async def client(api: Api, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client authenticated as an admin."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=api.http, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
async def anonymous(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client without a token."""
    async with httpx.AsyncClient(base_url=api.http, timeout=30) as http:
        yield http


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[JetStreamContext]:
    assert settings.nats_url
    client = await nats.connect(settings.nats_url)
    try:
        yield client.jetstream()
    finally:
        await client.drain()


@pytest.fixture
async def workspace(client: httpx.AsyncClient, workspace_id: str) -> str:
    """A workspace created over REST."""
    response = await client.post(
        "/api/v1/workspaces", json={"id": workspace_id, "name": f"Workspace {workspace_id}"}
    )
    assert response.status_code == 201, response.text
    return workspace_id
