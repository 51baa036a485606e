"""vigil's own nats-server and PostgreSQL: started, found, reused, recovered and stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING

import asyncpg
import msgspec
import nats
import pytest

from shared._processes import pid_alive
from shared.embedded import EmbeddedServerError, EmbeddedServers, ServerAddresses, find_running

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class _Pids(msgspec.Struct):
    nats_pid: int
    postgres_pid: int


def _pids(state: Path) -> _Pids:
    return msgspec.json.decode((state / "servers.json").read_bytes(), type=_Pids)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A state folder; whatever a test leaves running there is stopped afterwards."""
    folder = tmp_path / ".vigil"
    yield folder
    if (folder / "servers.json").exists():  # a failed test left its servers running
        pids = _pids(folder)
        for pid, sig in ((pids.nats_pid, signal.SIGTERM), (pids.postgres_pid, signal.SIGINT)):
            if pid_alive(pid):
                os.kill(pid, sig)


async def _write_and_publish(addresses: ServerAddresses) -> None:
    conn = await asyncpg.connect(addresses.database_url)
    try:
        assert await conn.fetchval("SELECT 41 + 1") == 42
        assert await conn.fetchval("SHOW max_connections") == "200"
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
    finally:
        await conn.close()
    client = await nats.connect(addresses.nats_url)
    try:
        js = client.jetstream()
        await js.add_stream(name="PROBE", subjects=["probe.>"])
        ack = await js.publish("probe.x", b"hello")
        assert (ack.stream, ack.seq) == ("PROBE", 1)
    finally:
        await client.drain()


async def _assert_kept(addresses: ServerAddresses) -> None:
    conn = await asyncpg.connect(addresses.database_url)
    try:
        assert await conn.fetchval("SELECT x FROM kept") == 7
    finally:
        await conn.close()
    client = await nats.connect(addresses.nats_url)
    try:
        info = await client.jetstream().stream_info("PROBE")
        assert info.state.messages == 1
    finally:
        await client.drain()


async def test_servers_start_answer_are_found_reused_and_stop(state: Path) -> None:
    embedded = EmbeddedServers(state)
    addresses = embedded.start()
    pids = _pids(state)
    try:
        assert addresses.nats_url.startswith("nats://127.0.0.1:")
        assert addresses.database_url.startswith("postgresql://vigil@127.0.0.1:")
        assert addresses.database_url.endswith("/vigil")
        await _write_and_publish(addresses)

        assert find_running(state) == addresses
        again = EmbeddedServers(state)
        assert again.start() == addresses  # reused: same ports, same processes
        assert _pids(state) == pids
        again.stop()  # it only reused them: they keep running
        assert find_running(state) == addresses
        assert embedded.start() == addresses  # idempotent
    finally:
        embedded.stop()
    assert find_running(state) is None
    assert not (state / "servers.json").exists()
    assert not pid_alive(pids.nats_pid)
    assert not pid_alive(pids.postgres_pid)
    assert not (state / "postgres" / "postmaster.pid").exists()
    assert (state / "logs" / "nats.log").stat().st_size > 0
    assert (state / "logs" / "postgres.log").stat().st_size > 0

    started = time.monotonic()
    with EmbeddedServers(state) as restarted:
        assert time.monotonic() - started < 5  # no initdb the second time
        await _assert_kept(restarted)
    assert find_running(state) is None


async def test_a_start_recovers_from_servers_killed_with_sigkill(tmp_path: Path) -> None:
    # A long path: the unix socket must then live elsewhere (107-byte limit).
    state = tmp_path / ("deep-" * 12) / ".vigil"
    crashed = EmbeddedServers(state)
    addresses = crashed.start()
    recovered = EmbeddedServers(state)
    try:
        await _write_and_publish(addresses)
        pids = _pids(state)
        os.kill(pids.nats_pid, signal.SIGKILL)
        os.kill(pids.postgres_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(pids.nats_pid) or pid_alive(pids.postgres_pid):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert find_running(state) is None
        assert (state / "servers.json").exists()
        assert (state / "postgres" / "postmaster.pid").exists()

        fresh = recovered.start()
        assert find_running(state) == fresh
        await _assert_kept(fresh)
        crashed.stop()  # what it started is gone: it must not touch the new servers
        assert find_running(state) == fresh
    finally:
        crashed.stop()
        recovered.stop()
    assert find_running(state) is None


def test_a_server_that_cannot_start_is_reported_with_its_log(state: Path) -> None:
    (state / "postgres").mkdir(parents=True)
    (state / "postgres" / "PG_VERSION").write_text("7\n")  # a cluster no server can run
    embedded = EmbeddedServers(state)
    with pytest.raises(EmbeddedServerError, match="PostgreSQL did not start") as raised:
        embedded.start()
    assert "postgres.log" in str(raised.value)
    assert not (state / "servers.json").exists()
    pid_file = state / "nats" / "nats-server.pid"
    assert not pid_file.exists() or not pid_alive(int(pid_file.read_text()))


def test_nothing_is_found_in_an_empty_folder(tmp_path: Path) -> None:
    assert find_running(tmp_path) is None
