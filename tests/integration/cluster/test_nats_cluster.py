"""The cluster path with processes: 3 clustered nats-servers, the EVENTS stream at 3 replicas,
the relay and projecting service replicas on top; one NATS node dies mid-stream and nothing is
lost. `make cluster-test` runs only this module."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import nats
import pytest
from nats.js import JetStreamContext

from shared.eventstore import EventStore
from shared.relay import ensure_stream
from shared.replay import Replayer
from shared.settings import Settings
from shared.wire import decode_wire
from tests.integration.cluster.conftest import Cluster, retry
from tests.integration.replay.history import scan_writes
from tests.integration.scaling.conftest import scaled_projections, wait_until_projected
from tests.support.jetstream import count_messages, stream_messages, wait_for_count
from tests.support.processes import REPO, service_env, stop

pytestmark = pytest.mark.usefixtures("service_schemas")


@pytest.fixture
def cluster_settings(settings: Settings, cluster: Cluster) -> Settings:
    tag = secrets.token_hex(3)
    return msgspec.structs.replace(
        settings,
        nats_url=cluster.nodes[0].url,
        stream_name=f"CLUSTER_{tag}".upper(),
        subject_prefix=f"c{tag}.evt",
        stream_replicas=3,
    )


async def test_a_nats_node_dying_mid_stream_loses_nothing(
    cluster: Cluster,
    cluster_settings: Settings,
    store: EventStore,
    pool: asyncpg.Pool,
) -> None:
    nc = await nats.connect(cluster.nodes[1].url)
    js = nc.jetstream()
    await retry(lambda: ensure_stream(js, cluster_settings))
    info = await js.stream_info(cluster_settings.stream_name)
    assert info.config.num_replicas == 3

    workspaces = [f"cl-{secrets.token_hex(4)}-{i}" for i in range(3)]
    subject = f"{cluster_settings.subject_prefix}.>"

    async def write(scans: range) -> None:
        for scan in scans:
            for i, ws in enumerate(workspaces):
                await store.append(scan_writes(ws, scan, 15, 4, seed=i))
            await asyncio.sleep(0.05)

    try:
        async with _replicas(cluster_settings) as processes:
            await write(range(3))
            await wait_for_count(js, cluster_settings.stream_name, subject, 1)
            cluster.stop(cluster.nodes[0])  # the node every replica connected to first
            await write(range(3, 8))
            assert all(p.returncode is None for p in processes)
            await wait_until_projected(pool, scaled_projections()[2:], workspaces)
            await _wait_until_relayed(js, cluster_settings, pool, workspaces)
        relayed = [
            decode_wire(m.data)
            for m in await stream_messages(js, cluster_settings.stream_name, subject)
        ]
    finally:
        await nc.drain()

    ours = [e.position for e in relayed if e.workspace_id in workspaces]
    expected = [
        e.position for ws in workspaces for e in await store.read_all(workspace_id=ws, limit=10**6)
    ]
    assert sorted(ours) == sorted(set(ours)), "no event is in the stream twice"
    assert set(ours) == set(expected), "every event of the log reached the stream"
    reports = await Replayer(pool, scaled_projections()[2:]).dry_run(workspace_ids=workspaces)
    assert all(report.matches for report in reports)


async def _unrelayed(
    js: JetStreamContext, settings: Settings, pool: asyncpg.Pool, workspaces: list[str]
) -> int:
    """How many events of these workspaces the log has beyond what the stream holds.

    Counted per workspace: the relay also publishes every earlier test's events into
    this new stream, so a count over all subjects says nothing about ours.
    """
    missing = 0
    for ws in workspaces:
        logged = await pool.fetchval("SELECT count(*) FROM events WHERE workspace_id = $1", ws)
        relayed = await count_messages(
            js, settings.stream_name, f"{settings.subject_prefix}.{ws}.>"
        )
        missing += max(0, logged - relayed)
    return missing


async def _wait_until_relayed(
    js: JetStreamContext,
    settings: Settings,
    pool: asyncpg.Pool,
    workspaces: list[str],
    within: float = 120,
) -> None:
    """Until the stream holds as many messages of each workspace as the log has events."""
    deadline = time.monotonic() + within
    while True:
        try:
            missing: int | str = await _unrelayed(js, settings, pool, workspaces)
        except nats.errors.TimeoutError:  # the cluster is electing a stream leader
            missing = "an unknown number of"
        if missing == 0:
            return
        assert time.monotonic() < deadline, (
            f"{missing} event(s) of the log never reached the stream"
        )
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _replicas(settings: Settings) -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Two stats replicas (each also a relay candidate) on the cluster."""
    # At info level the relays say where they resume: the story a failure needs told.
    env = {**service_env(settings), "VIGIL_STREAM_REPLICAS": "3", "VIGIL_LOG_LEVEL": "info"}

    async def start(attempts: int = 3) -> asyncio.subprocess.Process:
        """Start a replica; one that exits at startup is started again, as `vigil up` does.

        On a cluster just formed, JetStream's API can time out while it elects the
        leaders of a new consumer, and a service that cannot subscribe exits.
        """
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.scaling.replica",
            "stats",
            env=env,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout
        line = await asyncio.wait_for(process.stdout.readline(), 90)
        if line.strip() == b"worker ready":
            return process
        await process.wait()
        assert attempts > 1, f"the stats replica did not start: {line!r}"
        return await start(attempts - 1)

    processes = list(await asyncio.gather(start(), start()))
    try:
        yield processes
    finally:
        await asyncio.gather(*(stop(p) for p in processes))
