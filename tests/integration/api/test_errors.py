"""Bad input gets a clear problem-details answer and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from shared.eventstore import EventStore


def assert_problem(response: httpx.Response, status: int, *mentions: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    for mention in mentions:
        assert mention in problem["detail"], problem


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"name": "no id"}, ("body: Object missing required field `id`",)),
        ({"id": 42, "name": "ACME"}, ("id", "str")),
        ({"id": "ok-id", "name": ["not", "a", "string"]}, ("name",)),
        ({"id": "Bad ID!", "name": "ACME"}, ("id",)),
        ({"id": "-leading-dash", "name": "ACME"}, ("id",)),
        ({"id": "x" * 64, "name": "ACME"}, ("id",)),
        ({"id": "ok-id", "name": ""}, ("name",)),
        ({"id": "ok-id", "name": "ACME", "colour": "red"}, ("colour",)),
    ],
)
async def test_an_invalid_workspace_body_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, store: EventStore, body: dict[str, object], mentions: tuple[str]
) -> None:
    head = await store.head_position()

    response = await client.post("/api/v1/workspaces", json=body)

    assert_problem(response, 400, *mentions)
    assert await store.head_position() == head


async def test_malformed_json_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, store: EventStore
) -> None:
    head = await store.head_position()

    response = await client.post(
        "/api/v1/workspaces",
        content=b'{"id": "acme", "name": ',
        headers={"Content-Type": "application/json"},
    )

    assert_problem(response, 400, "not valid JSON")
    assert await store.head_position() == head


async def test_creating_a_workspace_twice_is_a_conflict_and_writes_nothing(
    client: httpx.AsyncClient, store: EventStore, workspace: str
) -> None:
    head = await store.head_position()

    response = await client.post("/api/v1/workspaces", json={"id": workspace, "name": "again"})

    assert_problem(response, 409, workspace)
    assert await store.head_position() == head


async def test_an_unknown_workspace_is_not_found(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/workspaces/no-such-ws"), 404, "no-such-ws")
    assert_problem(await client.get("/api/v1/events?workspace=no-such-ws"), 404, "no-such-ws")


@pytest.mark.parametrize(
    ("query", "mention"), [("limit=0", "limit"), ("limit=1001", "limit"), ("after=-1", "after")]
)
async def test_bad_paging_parameters_are_refused(
    client: httpx.AsyncClient, query: str, mention: str
) -> None:
    assert_problem(await client.get(f"/api/v1/events?{query}"), 400, mention)


async def test_an_unknown_route_is_a_problem_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
