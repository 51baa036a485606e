"""Creating, listing and showing workspaces over REST."""

from __future__ import annotations

import httpx
from nats.js import JetStreamContext

from shared.contracts.workspace import workspace_stream
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.support.jetstream import count_messages, wait_for_count


async def test_creating_a_workspace_records_exactly_one_workspace_created(
    client: httpx.AsyncClient, store: EventStore, workspace_id: str
) -> None:
    response = await client.post(
        "/api/v1/workspaces",
        json={"id": workspace_id, "name": "ACME", "description": "the ACME estate"},
        headers={"X-Request-ID": "req-123"},
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == workspace_id
    assert body["name"] == "ACME"
    events = await store.read_stream(workspace_stream(workspace_id))
    assert [e.type for e in events] == ["WorkspaceCreated"]
    assert body["position"] == events[0].position
    assert events[0].metadata.correlation_id == "req-123"
    assert events[0].metadata.actor is not None
    assert events[0].metadata.actor.startswith("token:test-admin:")


async def test_a_created_workspace_reaches_jetstream_exactly_once(
    client: httpx.AsyncClient, js: JetStreamContext, settings: Settings, workspace_id: str
) -> None:
    await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "ACME"})
    subject = f"{settings.subject_prefix}.{workspace_id}.>"

    await wait_for_count(js, settings.stream_name, subject, at_least=1)
    # a second relay pass or a re-publish must not add a copy: the stream dedupes by event id
    assert await count_messages(js, settings.stream_name, subject) == 1


async def test_a_workspace_is_readable_right_after_it_is_created(
    client: httpx.AsyncClient, workspace_id: str
) -> None:
    created = await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "ACME"})

    shown = await client.get(f"/api/v1/workspaces/{workspace_id}")
    listed = await client.get("/api/v1/workspaces")

    assert shown.status_code == 200
    assert shown.json() == created.json()
    assert workspace_id in [w["id"] for w in listed.json()["workspaces"]]


async def test_the_event_carries_a_traceparent_for_the_consumers_spans(
    client: httpx.AsyncClient, store: EventStore, workspace_id: str
) -> None:
    await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "ACME"})

    [event] = await store.read_stream(workspace_stream(workspace_id))

    assert event.metadata.traceparent is not None
    assert event.metadata.traceparent.startswith("00-")


async def test_a_correlation_id_is_generated_when_the_request_has_none(
    client: httpx.AsyncClient, store: EventStore, workspace_id: str
) -> None:
    await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "ACME"})

    [event] = await store.read_stream(workspace_stream(workspace_id))

    assert event.metadata.correlation_id
