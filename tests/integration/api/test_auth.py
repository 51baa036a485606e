"""Bearer tokens: who may call what."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from services.api.tokens import Role, revoke_token, verify_token
from tests.integration.api.conftest import Api

PROTECTED = [
    ("GET", "/api/v1/workspaces"),
    ("POST", "/api/v1/workspaces"),
    ("GET", "/api/v1/workspaces/acme"),
    ("GET", "/api/v1/events"),
    ("GET", "/metrics"),
    ("GET", "/schema/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize("authorization", [None, "Bearer vgl_not-a-real-token", "Basic abc"])
async def test_every_endpoint_but_health_needs_a_valid_token(
    anonymous: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await anonymous.request(method, path, headers=headers, json={})

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"]


@pytest.mark.parametrize("path", ["/health", "/ready"])
async def test_health_and_readiness_answer_without_a_token(
    anonymous: httpx.AsyncClient, path: str
) -> None:
    assert (await anonymous.get(path)).status_code == 200


async def test_a_revoked_token_is_refused(
    anonymous: httpx.AsyncClient, make_token, pool: asyncpg.Pool
) -> None:
    token = await make_token(Role.VIEWER)
    async with pool.acquire() as conn:
        principal = await verify_token(conn, token)
        assert principal is not None
        assert await revoke_token(conn, principal.token_id)

    response = await anonymous.get(
        "/api/v1/workspaces", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401


async def test_tokens_are_stored_only_as_digests(make_token, pool: asyncpg.Pool) -> None:
    token = await make_token(Role.VIEWER)

    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT prefix, secret_hash FROM api_tokens")

    assert token.startswith("vgl_")
    assert all(token.encode() not in bytes(row["secret_hash"]) for row in rows)
    assert token[:12] in [row["prefix"] for row in rows]


async def test_a_viewer_may_not_create_a_workspace(
    anonymous: httpx.AsyncClient, make_token, workspace_id: str
) -> None:
    token = await make_token(Role.VIEWER)

    response = await anonymous.post(
        "/api/v1/workspaces",
        json={"id": workspace_id, "name": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_analyst_may_not_create_a_workspace(
    anonymous: httpx.AsyncClient, make_token, workspace_id: str
) -> None:
    token = await make_token(Role.ANALYST)

    response = await anonymous.post(
        "/api/v1/workspaces",
        json={"id": workspace_id, "name": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert response.status_code == 403


async def test_a_scoped_token_reads_only_its_own_workspace(
    anonymous: httpx.AsyncClient, client: httpx.AsyncClient, make_token, workspace: str
) -> None:
    other = f"{workspace}-other"
    assert (await client.post("/api/v1/workspaces", json={"id": other, "name": "o"})).is_success
    token = await make_token(Role.VIEWER, workspace_id=workspace)
    headers = {"Authorization": f"Bearer {token}"}

    own = await anonymous.get(f"/api/v1/workspaces/{workspace}", headers=headers)
    foreign = await anonymous.get(f"/api/v1/workspaces/{other}", headers=headers)
    foreign_events = await anonymous.get(f"/api/v1/events?workspace={other}", headers=headers)
    listed = await anonymous.get("/api/v1/workspaces", headers=headers)

    assert own.status_code == 200
    assert foreign.status_code == 403
    assert foreign_events.status_code == 403
    assert foreign_events.headers["content-type"].startswith("application/problem+json")
    assert [w["id"] for w in listed.json()["workspaces"]] == [workspace]


async def test_a_scoped_token_reads_its_workspace_events_by_default(
    anonymous: httpx.AsyncClient, make_token, workspace: str
) -> None:
    token = await make_token(Role.VIEWER, workspace_id=workspace)

    page = await anonymous.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})

    assert page.status_code == 200
    assert {e["workspace_id"] for e in page.json()["events"]} == {workspace}


@pytest.mark.parametrize("query", ["", "?token=vgl_wrong", "?after=0"])
async def test_the_stream_refuses_a_handshake_without_a_valid_token(api: Api, query: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{api.ws}/api/v1/stream{query}"):
            pass

    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_stream_refuses_a_scoped_token_asking_for_another_workspace(
    api: Api, make_token, workspace: str
) -> None:
    token = await make_token(Role.VIEWER, workspace_id=workspace)

    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{api.ws}/api/v1/stream?workspace=other&token={token}"):
            pass

    assert refused.value.response.status_code == 403


async def test_the_stream_refuses_an_unknown_workspace(api: Api, admin_token: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{api.ws}/api/v1/stream?workspace=nope-nope&token={admin_token}"):
            pass

    assert refused.value.response.status_code == 404
