"""`vigil events`, `vigil relay republish` and `vigil replay` as users run them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest

from shared.contracts import Event, EventMetadata, HostChanged
from shared.database import connect_pool
from shared.embedded import ServerAddresses
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.replay.history import record_history
from tests.support.jetstream import count_messages
from tests.support.processes import REPO, service_env

pytestmark = pytest.mark.usefixtures("read_model_schemas")
NOW = dt.datetime(2025, 5, 1, tzinfo=dt.UTC)


def notes(count: int, prefix: str = "h", workspace: str = "ws") -> list[Event]:
    """Real contract events (the CLI process knows no test types): hosts seen again."""
    return [
        HostChanged(workspace_id=workspace, asset_id=f"{prefix}-{i}", scan_id="s", seen_at=NOW)
        for i in range(count)
    ]


VIGIL = [sys.executable, "-m", "services.cli.main"]


def vigil(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*VIGIL, *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return service_env(settings)


@pytest.fixture
async def other_installation(servers: ServerAddresses) -> AsyncIterator[str]:
    """A second, empty database on the same server: another vigil installation."""
    name = f"vigil_other_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(servers.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield servers.database_url.rpartition("/")[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_export_then_import_moves_a_workspace_with_ids_order_and_metadata(
    env: dict[str, str], store: EventStore, workspace_id: str, other_installation: str
) -> None:
    metadata = EventMetadata(actor="alice", correlation_id="c-1")
    await store.append_to_stream(f"a-{workspace_id}", workspace_id, notes(3), metadata=metadata)
    await store.append_to_stream(f"b-{workspace_id}", "someone-else", notes(2))
    await store.append_to_stream(f"a-{workspace_id}", workspace_id, notes(2, "later"))
    source = await store.read_all(workspace_id=workspace_id)

    exported = await asyncio.to_thread(vigil, env, "events", "export", "--workspace", workspace_id)
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [str(e.event_id) for e in source]

    target = {**env, "VIGIL_DATABASE_URL": other_installation}
    first = await asyncio.to_thread(vigil, target, "events", "import", "-", stdin=exported.stdout)
    again = await asyncio.to_thread(vigil, target, "events", "import", "-", stdin=exported.stdout)

    assert first.returncode == 0, first.stderr
    assert b"imported 5 event(s), skipped 0" in first.stdout
    assert b"imported 0 event(s), skipped 5" in again.stdout
    pool = await connect_pool(other_installation, max_size=2)
    try:
        copied = await EventStore(pool).read_all()
    finally:
        await pool.close()
    assert [
        (e.event_id, e.stream_id, e.stream_version, e.data, e.metadata, e.recorded_at)
        for e in copied
    ] == [
        (e.event_id, e.stream_id, e.stream_version, e.data, e.metadata, e.recorded_at)
        for e in source
    ]
    assert [e.position for e in copied] == [1, 2, 3, 4, 5]


async def test_an_import_that_conflicts_with_the_log_changes_nothing(
    env: dict[str, str], store: EventStore, workspace_id: str
) -> None:
    await store.append_to_stream(f"c-{workspace_id}", workspace_id, notes(2))
    exported = await asyncio.to_thread(vigil, env, "events", "export", "--workspace", workspace_id)
    foreign = [json.loads(line) for line in exported.stdout.splitlines()]
    for line in foreign:
        line["event_id"] = line["event_id"][:-4] + "ffff"
    good = json.dumps({**foreign[0], "event_id": "01930000-0000-7000-8000-000000000001"})
    head = await store.head_position()

    clash = await asyncio.to_thread(
        vigil,
        env,
        "events",
        "import",
        "-",
        stdin=(good + "\n" + "\n".join(json.dumps(line) for line in foreign)).encode(),
    )
    garbage = await asyncio.to_thread(
        vigil, env, "events", "import", "-", stdin=(good + "\nnot json\n").encode()
    )

    assert clash.returncode == 1
    assert b"nothing was imported" in clash.stderr
    assert b"line 2" in garbage.stderr
    assert await store.head_position() == head


async def test_tail_follows_new_events_and_show_prints_one(
    env: dict[str, str], store: EventStore, workspace_id: str
) -> None:
    before = await store.append_to_stream(f"t-{workspace_id}", workspace_id, notes(2, "old"))
    tail = await asyncio.create_subprocess_exec(
        *VIGIL,
        "events",
        "tail",
        "--workspace",
        workspace_id,
        "--type",
        "Host*",
        "--after",
        str(before[0].position),
        "--json",
        "--count",
        "6",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    for batch in range(5):
        await store.append_to_stream(f"t-{workspace_id}", workspace_id, notes(1, f"new{batch}"))
        await store.append_to_stream(f"x-{workspace_id}", "another-ws", notes(1))
        await asyncio.sleep(0.05)
    out, _ = await asyncio.wait_for(tail.communicate(), 60)
    followed = [json.loads(line) for line in out.decode().splitlines()]
    assert [e["data"]["asset_id"] for e in followed] == ["old-1", *(f"new{i}-0" for i in range(5))]

    shown = await asyncio.to_thread(vigil, env, "events", "show", str(before[0].position))
    by_id = await asyncio.to_thread(vigil, env, "events", "show", str(before[0].event_id))
    missing = await asyncio.to_thread(vigil, env, "events", "show", "999999999")
    assert json.loads(shown.stdout)["event_id"] == str(before[0].event_id)
    assert json.loads(by_id.stdout)["position"] == before[0].position
    assert missing.returncode == 1


async def test_republish_fills_a_recreated_stream_once(
    env: dict[str, str], settings: Settings, store: EventStore, workspace_id: str
) -> None:
    await store.append_to_stream(f"r-{workspace_id}", workspace_id, notes(20))
    head = await store.head_position()
    tag = secrets.token_hex(3)
    stream, prefix = f"RECREATED_{tag}".upper(), f"re{tag}.evt"
    fresh = {**env, "VIGIL_STREAM_NAME": stream, "VIGIL_SUBJECT_PREFIX": prefix}
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()
    try:
        first = await asyncio.to_thread(vigil, fresh, "relay", "republish", "--from", str(head - 9))
        again = await asyncio.to_thread(vigil, fresh, "relay", "republish", "--from", "1")
        forced = await asyncio.to_thread(
            vigil, fresh, "relay", "republish", "--from", str(head - 9), "--force"
        )
        count = await count_messages(js, stream, f"{prefix}.>")
        await js.delete_stream(stream)
    finally:
        await nc.drain()

    assert first.returncode == 0, first.stderr
    assert f"published positions {head - 9}..{head}".encode() in first.stdout
    assert b"nothing to publish" in again.stdout
    assert forced.returncode == 0, forced.stderr
    assert count == 10


async def test_replay_commands_list_rebuild_and_compare(
    env: dict[str, str], store: EventStore
) -> None:
    await record_history(store, [f"cli-{secrets.token_hex(4)}"], scans=2, hosts=3, rules=2)

    listed = await asyncio.to_thread(vigil, env, "replay", "--list")
    rebuilt = await asyncio.to_thread(vigil, env, "replay", "--all")
    checked = await asyncio.to_thread(vigil, env, "replay", "--all", "--dry-run")
    unknown = await asyncio.to_thread(vigil, env, "replay", "nope")

    assert b"ingest.inventory" in listed.stdout
    assert b"api.workspaces" in listed.stdout
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert b"ingest.inventory: rebuilt and swapped in at position" in rebuilt.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr
    verdicts = checked.stdout.decode().splitlines()
    assert len(verdicts) >= 3
    assert all("a rebuild matches the live model" in line for line in verdicts), verdicts
    assert unknown.returncode == 2
    assert b"unknown projection" in unknown.stderr
