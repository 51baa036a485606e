"""vigil's own nats-server and PostgreSQL: started, found, reused and stopped."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import nats

from shared.embedded import EmbeddedServers, find_running


async def test_servers_start_answer_are_found_and_stop(tmp_path: Path) -> None:
    embedded = EmbeddedServers(tmp_path / ".vigil")
    addresses = embedded.start()
    try:
        conn = await asyncpg.connect(addresses.database_url)
        assert await conn.fetchval("SELECT 41 + 1") == 42
        await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
        await conn.close()
        client = await nats.connect(addresses.nats_url)
        js = client.jetstream()
        await js.add_stream(name="PROBE", subjects=["probe.>"])
        ack = await js.publish("probe.x", b"hello")
        assert ack.seq == 1
        await client.drain()

        assert find_running(tmp_path / ".vigil") == addresses
        assert EmbeddedServers(tmp_path / ".vigil").start() == addresses
    finally:
        embedded.stop()
    assert find_running(tmp_path / ".vigil") is None

    started = time.monotonic()
    again = EmbeddedServers(tmp_path / ".vigil")
    restarted = again.start()
    try:
        assert time.monotonic() - started < 15
        conn = await asyncpg.connect(restarted.database_url)
        assert await conn.fetchval("SELECT x FROM kept") == 7
        await conn.close()
        client = await nats.connect(restarted.nats_url)
        info = await client.jetstream().stream_info("PROBE")
        assert info.state.messages == 1
        await client.drain()
    finally:
        again.stop()


def test_nothing_is_found_in_an_empty_folder(tmp_path: Path) -> None:
    assert find_running(tmp_path) is None
