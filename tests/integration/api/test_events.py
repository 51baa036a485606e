"""``GET /api/v1/events``: paging through the log."""

from __future__ import annotations

import httpx

from shared.eventstore import EventStore
from tests.support.events import notes


async def test_the_log_pages_in_order_with_a_continuation(
    client: httpx.AsyncClient, store: EventStore, workspace: str
) -> None:
    await store.append_to_stream(f"notes-{workspace}", workspace, notes(5))

    first = (await client.get(f"/api/v1/events?workspace={workspace}&limit=3")).json()
    second = (
        await client.get(f"/api/v1/events?workspace={workspace}&after={first['next_after']}")
    ).json()

    events = first["events"] + second["events"]
    assert [e["type"] for e in events] == ["WorkspaceCreated"] + ["TestNoteTaken"] * 5
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert second["next_after"] == positions[-1]
    assert set(events[1]) == {
        "position", "event_id", "stream_id", "stream_version", "workspace_id", "type",
        "schema_version", "data", "metadata", "recorded_at",
    }  # fmt: skip
    assert events[1]["data"] == {"type": "TestNoteTaken", "text": "note-0", "n": 0}


async def test_the_log_filters_by_exact_type_and_by_prefix(
    client: httpx.AsyncClient, store: EventStore, workspace: str
) -> None:
    await store.append_to_stream(f"notes-{workspace}", workspace, notes(2))

    exact = (await client.get(f"/api/v1/events?workspace={workspace}&types=TestNoteTaken")).json()
    prefix = (await client.get(f"/api/v1/events?workspace={workspace}&types=Workspace*")).json()
    nothing = (await client.get(f"/api/v1/events?workspace={workspace}&types=Nope*")).json()

    assert [e["type"] for e in exact["events"]] == ["TestNoteTaken"] * 2
    assert [e["type"] for e in prefix["events"]] == ["WorkspaceCreated"]
    assert nothing == {"events": [], "next_after": 0}


async def test_an_empty_page_continues_from_where_it_was_asked(
    client: httpx.AsyncClient, store: EventStore, workspace: str
) -> None:
    head = await store.head_position()

    page = (await client.get(f"/api/v1/events?workspace={workspace}&after={head}")).json()

    assert page == {"events": [], "next_after": head}
