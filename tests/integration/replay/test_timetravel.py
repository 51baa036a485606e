"""Findings as of a past position or time, folded from the log, over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn

from services.api.app import create_app
from services.api.timetravel import findings_as_of
from services.api.tokens import Role, create_token
from shared.contracts import ScanCompleted
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.replay.conftest import project_live
from tests.integration.replay.history import record_history

pytestmark = pytest.mark.usefixtures("read_model_schemas")
HOSTS, RULES = 4, 3


@pytest.fixture
async def history(pool: asyncpg.Pool, store: EventStore) -> str:
    workspace = f"tt-{secrets.token_hex(4)}"
    await record_history(store, [workspace], scans=3, hosts=HOSTS, rules=RULES)
    await project_live(pool, [workspace])
    return workspace


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(600):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "the gateway did not start"
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        listener.close()


async def test_folding_the_whole_log_gives_the_live_read_model(
    pool: asyncpg.Pool, store: EventStore, history: str
) -> None:
    position, findings = await findings_as_of(store, history, None)

    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT fingerprint, status, title, severity, observations, scanners, first_seen,"
            " last_seen, closed_at, version, position FROM ingest_findings"
            " WHERE workspace_id = $1 ORDER BY fingerprint",
            history,
        )
    assert position == await store.head_position()
    assert [
        (
            f.fingerprint,
            str(f.status),
            f.title,
            f.severity,
            f.observations,
            f.scanners,
            f.first_seen,
            f.last_seen,
            f.closed_at,
            f.version,
            f.position,
        )
        for _, f in sorted(findings.items())
    ] == [tuple(row.values()) for row in rows]


async def test_as_of_the_first_scan_every_finding_is_new_and_open(
    store: EventStore, history: str
) -> None:
    events = await store.read_all(workspace_id=history, limit=100_000)
    first_scan_done = next(e for e in events if isinstance(e.data, ScanCompleted)).position

    _, findings = await findings_as_of(store, history, first_scan_done)
    _, before = await findings_as_of(store, history, 0)

    assert len(findings) == HOSTS * RULES
    assert {(str(f.status), f.observations) for f in findings.values()} == {("open", 1)}
    assert before == {}


async def test_the_gateway_answers_as_of_a_position_or_a_time(
    gateway: str, pool: asyncpg.Pool, store: EventStore, history: str
) -> None:
    events = await store.read_all(workspace_id=history, limit=100_000)
    first_scan_done = next(e for e in events if isinstance(e.data, ScanCompleted))
    async with pool.acquire() as conn:
        token = await create_token(conn, name="tt", role=Role.VIEWER, workspace_id=history)
        other = await create_token(conn, name="tt", role=Role.VIEWER, workspace_id="elsewhere")
    url = f"/api/v1/workspaces/{history}/findings/as-of"

    async with httpx.AsyncClient(base_url=gateway, timeout=30) as http:
        auth = {"Authorization": f"Bearer {token}"}
        by_position = await http.get(url, params={"at": first_scan_done.position}, headers=auth)
        by_time = await http.get(
            url, params={"at": first_scan_done.recorded_at.isoformat()}, headers=auth
        )
        fixed_now = await http.get(
            url, params={"at": "2999-01-01T00:00:00", "status": "fixed"}, headers=auth
        )
        garbage = await http.get(url, params={"at": "yesterday-ish"}, headers=auth)
        forbidden = await http.get(
            url, params={"at": "1"}, headers={"Authorization": f"Bearer {other}"}
        )

    assert by_position.status_code == 200, by_position.text
    body = by_position.json()
    assert body["position"] == first_scan_done.position
    assert body["total"] == HOSTS * RULES
    assert {f["status"] for f in body["findings"]} == {"open"}
    assert by_time.json()["findings"] == body["findings"]
    assert fixed_now.status_code == 200
    assert fixed_now.json()["position"] == await store.head_position()
    assert {f["status"] for f in fixed_now.json()["findings"]} <= {"fixed"}
    assert garbage.status_code == 400
    assert forbidden.status_code == 403
