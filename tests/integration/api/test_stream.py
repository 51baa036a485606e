"""``WS /api/v1/stream``: replay from the log, then live, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from shared.eventstore import EventStore
from tests.integration.api.conftest import Api
from tests.support.events import NoteTaken, notes

TIMEOUT = 30.0


async def receive_until(
    socket: ClientConnection, done: Any, within: float = TIMEOUT
) -> list[dict[str, Any]]:
    """Collect events, one JSON object per line of each frame, until `done(event)` holds."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            for line in (await socket.recv()).splitlines():
                event = json.loads(line)
                received.append(event)
                if done(event):
                    return received


async def test_a_client_subscribed_beforehand_sees_the_workspace_being_created(
    api: Api, client: httpx.AsyncClient, admin_token: str, workspace_id: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with connect(f"{api.ws}/api/v1/stream", additional_headers=headers) as socket:
        await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "ACME"})

        received = await receive_until(socket, lambda e: e["workspace_id"] == workspace_id)

    created = received[-1]
    assert created["type"] == "WorkspaceCreated"
    assert created["data"]["name"] == "ACME"


async def test_a_client_connecting_afterwards_replays_the_workspace_from_the_log(
    api: Api, admin_token: str, workspace: str
) -> None:
    url = f"{api.ws}/api/v1/stream?workspace={workspace}&after=0&token={admin_token}"
    async with connect(url) as socket:
        [created] = await receive_until(socket, lambda e: e["type"] == "WorkspaceCreated")

    assert created["workspace_id"] == workspace


async def test_the_token_may_come_as_a_subprotocol_which_is_echoed(
    api: Api, admin_token: str, workspace: str
) -> None:
    protocol = f"bearer.{admin_token}"
    url = f"{api.ws}/api/v1/stream?workspace={workspace}&after=0"
    async with connect(url, subprotocols=[protocol]) as socket:
        assert socket.subprotocol == protocol
        [created] = await receive_until(socket, lambda e: e["type"] == "WorkspaceCreated")

    assert created["workspace_id"] == workspace


async def test_replay_and_live_meet_without_gap_or_duplicate(
    api: Api, admin_token: str, store: EventStore, workspace: str
) -> None:
    stream = f"notes-{workspace}"
    await store.append_to_stream(stream, workspace, notes(1200, "before"))

    async def append_during_replay() -> None:
        for batch in range(40):
            await store.append_to_stream(stream, workspace, notes(10, f"during-{batch}"))
        await store.append_to_stream(stream, workspace, notes(1, "last"))

    url = f"{api.ws}/api/v1/stream?workspace={workspace}&after=0&token={admin_token}"
    async with connect(url) as socket:  # frames stay under the client's default 1 MiB
        writer = asyncio.create_task(append_during_replay())
        received = await receive_until(socket, lambda e: e["data"].get("text") == "last-0")
        await writer

    expected = [e.position for e in await store.read_all(workspace_id=workspace, limit=10_000)]
    assert [e["position"] for e in received] == expected
    assert len(expected) == 1 + 1200 + 400 + 1


async def test_a_replay_of_large_events_stays_within_a_clients_frame_limit(
    api: Api, admin_token: str, store: EventStore, workspace: str
) -> None:
    large = [NoteTaken(text=f"{i}:" + "x" * 8_000, n=i) for i in range(300)]
    await store.append_to_stream(f"notes-{workspace}", workspace, large)

    url = f"{api.ws}/api/v1/stream?workspace={workspace}&after=0&token={admin_token}"
    async with connect(url, max_size=256 * 1024) as socket:
        received = await receive_until(socket, lambda e: e["data"].get("n") == 299)

    assert [e["data"]["n"] for e in received[1:]] == list(range(300))


async def test_live_events_are_filtered_by_type_pattern(
    api: Api, admin_token: str, store: EventStore, workspace: str
) -> None:
    url = f"{api.ws}/api/v1/stream?workspace={workspace}&types=TestNote*&token={admin_token}"
    async with connect(url) as socket:
        await store.append_to_stream(f"notes-{workspace}", workspace, notes(3))

        received = await receive_until(socket, lambda e: e["data"]["text"] == "note-2")

    assert [e["data"]["text"] for e in received] == ["note-0", "note-1", "note-2"]


async def test_a_client_watching_one_workspace_sees_no_other(
    api: Api, admin_token: str, store: EventStore, workspace: str
) -> None:
    url = f"{api.ws}/api/v1/stream?workspace={workspace}&token={admin_token}"
    async with connect(url) as socket:
        await store.append_to_stream("notes-elsewhere", f"{workspace}-x", notes(2, "foreign"))
        await store.append_to_stream(f"notes-{workspace}", workspace, notes(1, "own"))

        received = await receive_until(socket, lambda e: e["data"].get("text") == "own-0")

    assert {e["workspace_id"] for e in received} == {workspace}


async def test_a_live_only_client_does_not_get_history(
    api: Api, admin_token: str, store: EventStore, workspace: str
) -> None:
    url = f"{api.ws}/api/v1/stream?workspace={workspace}&token={admin_token}"
    async with connect(url) as socket:
        await store.append_to_stream(f"notes-{workspace}", workspace, notes(1, "now"))

        received = await receive_until(socket, lambda e: e["data"].get("text") == "now-0")

    assert [e["type"] for e in received] == ["TestNoteTaken"]


async def test_a_bad_after_parameter_refuses_the_handshake(api: Api, admin_token: str) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{api.ws}/api/v1/stream?after=-5&token={admin_token}"):
            pass

    assert refused.value.response.status_code == 400
