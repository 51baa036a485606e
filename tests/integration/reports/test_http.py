"""The report routes of the gateway, with the reports service running behind it."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from litestar import Litestar

from services.api.app import create_app as create_gateway
from services.api.tokens import Role, create_token
from services.cli.reports import report
from services.reports.app import create_app as create_reports
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.reports.conftest import append_history
from tests.unit.reports.factory import HOSTILE_TITLE, workspace_history

pytestmark = pytest.mark.usefixtures("reports_schema")


@pytest.fixture(scope="module")
async def gateway(settings: Settings) -> AsyncIterator[str]:
    async with _serve(create_gateway(settings)) as url:
        yield url


@pytest.fixture(scope="module")
async def reports_service(settings: Settings) -> AsyncIterator[str]:
    async with _serve(create_reports(settings)) as url:
        yield url


@pytest.fixture(scope="module")
async def admin(
    gateway: str, reports_service: str, pool: asyncpg.Pool
) -> AsyncIterator[httpx.AsyncClient]:
    async with pool.acquire() as conn:
        token = await create_token(conn, name="reports-admin", role=Role.ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
async def workspace(admin: httpx.AsyncClient, workspace_id: str, store: EventStore) -> str:
    response = await admin.post("/api/v1/workspaces", json={"id": workspace_id, "name": "Ignored"})
    assert response.status_code == 201, response.text
    return workspace_id


async def _client(
    gateway: str, pool: asyncpg.Pool, role: Role, workspace_id: str | None
) -> httpx.AsyncClient:
    async with pool.acquire() as conn:
        token = await create_token(conn, name="t", role=role, workspace_id=workspace_id)
    return httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {token}"})


class _Serving:
    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __aenter__(self) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        self.listener = listener
        config = uvicorn.Config(self.app, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[listener]))
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                if self.task.done():
                    self.task.result()
                    raise AssertionError("uvicorn stopped before it served")
                if self.server.started:
                    try:
                        if (await client.get("/health")).status_code == 200:
                            return url
                    except httpx.TransportError:
                        pass
                assert time.monotonic() < deadline, "the service did not become healthy"
                await asyncio.sleep(0.05)

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        await self.task
        self.listener.close()


def _serve(app: Litestar) -> _Serving:
    return _Serving(app)


async def _wait_generated(
    client: httpx.AsyncClient, url: str, within: float = 120.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] in ("generated", "failed"):
            return body
        assert time.monotonic() < deadline, f"report still {body['status']} after {within}s"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("format", "content_type"),
    [
        ("pdf", "application/pdf"),
        ("html", "text/html; charset=utf-8"),
        ("markdown", "text/markdown; charset=utf-8"),
        ("csv", "text/csv; charset=utf-8"),
        ("json", "application/json"),
    ],
)
async def test_a_requested_report_is_rendered_and_downloaded(
    admin: httpx.AsyncClient, workspace: str, store: EventStore, format: str, content_type: str
) -> None:
    head = await append_history(store, workspace, workspace_history(workspace, 40)[1:])
    response = await admin.post(
        f"/api/v1/workspaces/{workspace}/reports",
        json={
            "format": format,
            "template": "executive",
            "filters": {"severity": ["critical", "high"]},
        },
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == accepted["url"]
    assert accepted["status"] == "queued"
    assert head <= accepted["position"] < await store.head_position()

    report = await _wait_generated(admin, accepted["url"])
    assert report["status"] == "generated", report
    assert (report["percent"], report["findings"], report["position"]) == (
        100,
        16,
        accepted["position"],
    )
    assert report["filters"] == {"severity": ["critical", "high"]}

    file = await admin.get(accepted["file_url"])
    assert file.status_code == 200
    assert file.headers["content-type"] == content_type
    assert file.headers["content-disposition"] == f'attachment; filename="{report["filename"]}"'
    assert len(file.content) == report["size"]
    if format == "html":
        assert (
            HOSTILE_TITLE.replace("<", "&lt;") not in file.text
        )  # the hostile title was filtered out

    listed = (await admin.get(f"/api/v1/workspaces/{workspace}/reports")).json()["reports"]
    assert accepted["id"] in [r["id"] for r in listed]


async def test_unknown_reports_and_workspaces_are_404(
    admin: httpx.AsyncClient, workspace: str
) -> None:
    assert (await admin.get(f"/api/v1/workspaces/{workspace}/reports/nope")).status_code == 404
    assert (await admin.get(f"/api/v1/workspaces/{workspace}/reports/nope/file")).status_code == 404
    response = await admin.post("/api/v1/workspaces/no-such-ws/reports", json={})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_viewers_and_other_workspaces_may_not_request(
    gateway: str, admin: httpx.AsyncClient, workspace: str, pool: asyncpg.Pool
) -> None:
    viewer = await _client(gateway, pool, Role.VIEWER, workspace)
    other = await _client(gateway, pool, Role.ANALYST, "elsewhere")
    async with viewer, other:
        assert (
            await viewer.post(f"/api/v1/workspaces/{workspace}/reports", json={})
        ).status_code == 403
        assert (
            await other.post(f"/api/v1/workspaces/{workspace}/reports", json={})
        ).status_code == 403
        assert (await other.get(f"/api/v1/workspaces/{workspace}/reports")).status_code == 403
        assert (await viewer.get(f"/api/v1/workspaces/{workspace}/reports")).status_code == 200


async def test_an_invalid_request_is_refused_with_a_reason(
    admin: httpx.AsyncClient, workspace: str
) -> None:
    response = await admin.post(f"/api/v1/workspaces/{workspace}/reports", json={"format": "docx"})
    assert response.status_code == 400
    assert "format" in response.json()["detail"]
    response = await admin.post(
        f"/api/v1/workspaces/{workspace}/reports", json={"filters": {"severity": ["urgent"]}}
    )
    assert response.status_code == 400


async def test_the_cli_requests_follows_and_writes_the_report(
    gateway: str, admin: httpx.AsyncClient, workspace: str, store: EventStore, tmp_path: Path
) -> None:
    await append_history(store, workspace, workspace_history(workspace, 20)[1:])
    target = tmp_path / "summary.md"
    token = admin.headers["authorization"].removeprefix("Bearer ")
    result = await asyncio.to_thread(
        CliRunner().invoke,
        report,
        ["-w", workspace, "--format", "markdown", "-o", str(target), "--url", gateway],
        env={"VIGIL_TOKEN": token},
    )
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    assert target.read_text().startswith("# ")
