"""A worker killed mid-import leaves nothing behind; the retried job applies once."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter

import asyncpg

from services.ingest.jobs import ImportQueue
from shared.contracts import FindingDetected, HostDetected, ScanCompleted, ScanProgressed
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from shared.settings import Settings
from tests.integration.ingest.conftest import (
    FAST_FAILOVER,
    project,
    read_models,
    upload,
    wait_finished,
    workspace_events,
)
from tests.integration.ingest.formats import FormatsWithFixture, scan_file
from tests.support.processes import REPO, kill_hard, service_env, stop


async def start_import_worker(settings: Settings) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.ingest.worker_process",
        env=service_env(settings),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"worker ready", line
    return process


async def wait_for_progress(store: EventStore, workspace_id: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not any(
        isinstance(e.data, ScanProgressed) for e in await workspace_events(store, workspace_id)
    ):
        assert time.monotonic() < deadline, "the import never reported progress"
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_import_leaves_nothing_and_retry_applies_once(
    settings: Settings,
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
) -> None:
    hosts = {f"10.2.{i // 250}.{i % 250}": ["p1", "r2"] for i in range(400)}
    content = scan_file(hosts, delay=0.005)
    enqueuer = await asyncio.to_thread(
        ImportQueue, settings, formats=FormatsWithFixture(), **FAST_FAILOVER
    )
    process = await start_import_worker(settings)
    try:
        scan_id = await upload(store, objects, workspace_id, content)
        await asyncio.to_thread(enqueuer.enqueue, scan_id, workspace_id)
        await wait_for_progress(store, workspace_id)
        await kill_hard(process)
    finally:
        await stop(process)

    types = {e.type for e in await workspace_events(store, workspace_id)}
    assert types <= {"ScanUploaded", "ScanStarted", "ScanProgressed"}, types

    worker = await asyncio.to_thread(
        ImportQueue, settings, formats=FormatsWithFixture(), **FAST_FAILOVER
    )
    worker.start_worker()
    try:
        done = await wait_finished(store, scan_id)
    finally:
        await asyncio.to_thread(worker.close)
        await asyncio.to_thread(enqueuer.close)
    assert isinstance(done, ScanCompleted), done
    assert (done.hosts, done.findings, done.findings_new) == (400, 800, 800)

    events = await workspace_events(store, workspace_id)
    started = [e for e in events if e.type == "ScanStarted"]
    assert len(started) == 2
    assert sum(e.type == "ScanCompleted" for e in events) == 1
    per_stream = Counter(e.stream_id for e in events if isinstance(e.data, FindingDetected))
    assert len(per_stream) == 800
    assert set(per_stream.values()) == {1}
    assert sum(isinstance(e.data, HostDetected) for e in events) == 400
    await project(pool, workspace_id)
    models = await read_models(pool, workspace_id)
    assert (len(models["ingest_hosts"]), len(models["ingest_findings"])) == (400, 800)
