"""Uploading scans over HTTP: stored, recorded, imported by the real ingest service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import httpx
import msgspec
import pytest
from nats.js import JetStreamContext

from services.api.app import create_app
from services.api.tokens import Role
from shared.contracts import ScanUploaded
from shared.eventstore import EventStore
from shared.objectstore import DEFAULT_BUCKET
from shared.settings import Settings
from tests.integration.api.conftest import Api
from tests.integration.ingest.formats import scan_file
from tests.support.scans import import_scan, jsonl_scan, upload_scan, wait_for_scan
from tests.support.services import running_ingest, serve_app

HOSTS = {"10.0.0.1": ["p1", "r2", "r3"], "10.0.0.2": ["p1", "r4"], "10.0.0.3": []}
SMALL_LIMIT = 300_000  # more than two object-store chunks
MakeToken = Callable[..., Awaitable[str]]


@pytest.fixture(scope="module", autouse=True)
async def ingest(api: Api, settings: Settings) -> AsyncIterator[None]:
    async with running_ingest(settings):
        yield


@pytest.fixture(scope="module")
async def small_api(settings: Settings) -> AsyncIterator[str]:
    """A second gateway that takes files of at most `SMALL_LIMIT` bytes."""
    limited = msgspec.structs.replace(settings, max_upload_bytes=SMALL_LIMIT)
    async with serve_app(create_app(limited)) as url:
        yield url


async def client_for(api: Api, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=api.http, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


async def object_messages(js: JetStreamContext) -> int:
    await js.object_store(DEFAULT_BUCKET)  # the gateway created it with the first upload
    info = await js.stream_info(f"OBJ_{DEFAULT_BUCKET}")
    return info.state.messages


async def test_upload_answers_202_at_once_and_the_scan_goes_queued_to_applied(
    client: httpx.AsyncClient, workspace: str, store: EventStore
) -> None:
    content = scan_file(HOSTS, delay=0.25)

    response = await upload_scan(client, workspace, content, scope="dmz")

    assert response.status_code == 202, response.text
    accepted = response.json()
    location = response.headers["location"]
    assert location == f"/api/v1/workspaces/{workspace}/scans/{accepted['id']}" == accepted["url"]
    assert (accepted["status"], accepted["size"]) == ("queued", len(content))
    scan, seen = await wait_for_scan(client, location)
    assert seen[0] in ("queued", "parsing")  # answered before the import was done
    assert seen == [s for s in ("queued", "parsing", "applied") if s in seen]
    assert scan["status"] == "applied"
    assert (scan["format"], scan["scanner"], scan["scope"]) == (
        "vigil-test-jsonl",
        "testscanner",
        "dmz",
    )
    counts = scan["counts"]
    assert (counts["hosts"], counts["services"], counts["findings"]) == (3, 3, 5)
    assert counts["findings_new"] == 5
    assert scan["progress"]["bytes_read"] == scan["progress"]["total_bytes"] == len(content)
    uploaded = (await store.read_stream(f"scan-{accepted['id']}"))[0]
    assert isinstance(uploaded.data, ScanUploaded)
    assert uploaded.metadata.actor
    assert uploaded.metadata.actor.startswith("token:test-admin:")
    assert uploaded.data.sha256 == scan["sha256"]


async def test_scans_are_listed_newest_first_page_by_page(
    client: httpx.AsyncClient, pool: asyncpg.Pool, workspace: str
) -> None:
    ids = []
    for n in range(3):
        content = jsonl_scan({"host": f"10.1.0.{n}"})
        ids.append((await import_scan(client, pool, workspace, content))["id"])

    first = (await client.get(f"/api/v1/workspaces/{workspace}/scans", params={"limit": 2})).json()
    rest = (
        await client.get(
            f"/api/v1/workspaces/{workspace}/scans",
            params={"limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()

    assert [s["id"] for s in first["scans"] + rest["scans"]] == ids[::-1]
    assert rest["next_cursor"] is None
    applied = await client.get(
        f"/api/v1/workspaces/{workspace}/scans", params={"status": ["failed"]}
    )
    assert applied.json()["scans"] == []


@pytest.mark.parametrize(
    ("content", "fields", "reason"),
    [
        (scan_file(HOSTS, truncate=True), {}, "truncated"),
        (b"\x00\x01 no scanner wrote this" * 40, {}, "does not recognise"),
        (b"", {}, "empty"),
        (scan_file(HOSTS), {"format": "no-such-format"}, "Unknown format 'no-such-format'"),
    ],
    ids=["truncated", "unknown-content", "empty", "unknown-format-hint"],
)
async def test_a_bad_file_fails_with_a_clear_reason_and_leaves_nothing_behind(
    client: httpx.AsyncClient, workspace: str, content: bytes, fields: dict[str, str], reason: str
) -> None:
    response = await upload_scan(client, workspace, content, **fields)
    assert response.status_code == 202, response.text

    scan, _ = await wait_for_scan(client, response.headers["location"])

    assert scan["status"] == "failed"
    assert reason in scan["reason"]
    base = f"/api/v1/workspaces/{workspace}"
    assert (await client.get(f"{base}/findings")).json()["findings"] == []
    assert (await client.get(f"{base}/hosts")).json()["hosts"] == []


async def test_an_oversized_upload_is_refused_with_413_and_nothing_is_stored(
    small_api: str,
    admin_token: str,
    workspace: str,
    store: EventStore,
    js: JetStreamContext,
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=small_api, headers=headers, timeout=30) as small:
        stored = await upload_scan(small, workspace, b"x" * 100)
        assert stored.status_code == 202
        before = await object_messages(js)
        streamed = await upload_scan(small, workspace, b"x" * (SMALL_LIMIT + 100_000))
        announced = await upload_scan(small, workspace, b"x" * (SMALL_LIMIT + 2 * 1024 * 1024))

    for response in (streamed, announced):
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        assert f"{SMALL_LIMIT:,} bytes" in response.json()["detail"]
    assert await object_messages(js) == before
    events = await store.read_all(workspace_id=workspace, types=["ScanUploaded"])
    assert [e.data.scan_id for e in events] == [stored.json()["id"]]  # type: ignore[attr-defined]


async def test_only_analysts_and_admins_may_upload(
    api: Api, make_token: MakeToken, workspace: str, store: EventStore
) -> None:
    viewer = await client_for(api, await make_token(Role.VIEWER))
    elsewhere = await client_for(api, await make_token(Role.ANALYST, "some-other-ws"))
    analyst = await client_for(api, await make_token(Role.ANALYST, workspace))
    async with viewer, elsewhere, analyst:
        refused = [await upload_scan(c, workspace, b"data") for c in (viewer, elsewhere)]
        accepted = await upload_scan(analyst, workspace, b"data")
        assert (await viewer.get(accepted.headers["location"])).status_code == 200

    assert [r.status_code for r in refused] == [403, 403]
    assert "only read" in refused[0].json()["detail"]
    assert accepted.status_code == 202
    assert len(await store.read_all(workspace_id=workspace, types=["ScanUploaded"])) == 1


async def test_unknown_workspace_and_scan_are_404_problems(
    client: httpx.AsyncClient, workspace: str, store: EventStore
) -> None:
    upload = await upload_scan(client, "no-such-ws", b"data")
    scan = await client.get(f"/api/v1/workspaces/{workspace}/scans/0000-nope")
    listing = await client.get("/api/v1/workspaces/no-such-ws/scans")

    for response in (upload, scan, listing):
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
    assert "no-such-ws" in upload.json()["detail"]
    assert await store.read_all(workspace_id="no-such-ws") == []


@pytest.mark.parametrize(
    ("request_kwargs", "status", "detail"),
    [
        ({"json": {"file": "x"}}, 415, "multipart/form-data"),
        ({"files": {"other": ("a", b"b")}}, 400, "Unexpected form part 'other'"),
        ({"files": {"scope": (None, "x")}}, 400, "no 'file' part"),
        ({"data": {"scope": "x"}, "files": {}}, 415, "multipart/form-data"),
        ({"data": {"format": "Not A Format!"}, "files": {"file": ("a", b"b")}}, 400, "format hint"),
    ],
    ids=["json-body", "unexpected-part", "no-file-part", "form-urlencoded", "bad-format-hint"],
)
async def test_a_malformed_upload_is_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    request_kwargs: dict[str, object],
    status: int,
    detail: str,
) -> None:
    response = await client.post(f"/api/v1/workspaces/{workspace}/scans", **request_kwargs)  # type: ignore[arg-type]

    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert await store.read_all(workspace_id=workspace, types=["ScanUploaded"]) == []
