"""A reports worker killed mid-render: the job is retried and exactly one report results."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from services.reports.jobs import ReportQueue
from shared.contracts import (
    ReportFormat,
    ReportGenerated,
    ReportProgressed,
    ReportStarted,
    report_stream,
)
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.reports.conftest import (
    FAST_FAILOVER,
    append_history,
    record_request,
    wait_outcome,
)
from tests.support.processes import REPO, kill_hard, service_env, stop
from tests.unit.reports.factory import workspace_history

pytestmark = pytest.mark.usefixtures("reports_schema")


async def start_render_worker(settings: Settings) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.reports.worker_process",
        env=service_env(settings),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.strip() == b"worker ready", line
    return process


async def wait_for_stage(
    store: EventStore, report_id: str, stage: str, within: float = 60.0
) -> None:
    deadline = time.monotonic() + within
    while not any(
        isinstance(e.data, ReportProgressed) and e.data.stage == stage
        for e in await store.read_stream(report_stream(report_id))
    ):
        assert time.monotonic() < deadline, f"the report never reached stage {stage!r}"
        await asyncio.sleep(0.05)


async def test_worker_killed_mid_render_is_retried_and_one_report_results(
    settings: Settings, store: EventStore, workspace_id: str
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 300))
    asked = await record_request(store, workspace_id, format=ReportFormat.PDF)
    enqueuer = await asyncio.to_thread(ReportQueue, settings, **FAST_FAILOVER)  # type: ignore[arg-type]
    process = await start_render_worker(settings)
    try:
        await asyncio.to_thread(enqueuer.enqueue, asked.report_id, workspace_id)
        await wait_for_stage(store, asked.report_id, "rendering")
        await kill_hard(process)
    finally:
        await stop(process)

    types = {e.type for e in await store.read_stream(report_stream(asked.report_id))}
    assert types == {"ReportRequested", "ReportStarted", "ReportProgressed"}, types

    worker = await asyncio.to_thread(ReportQueue, settings, **FAST_FAILOVER)  # type: ignore[arg-type]
    worker.start_worker()
    try:
        done = await wait_outcome(store, asked.report_id)
    finally:
        await asyncio.to_thread(worker.close)
        await asyncio.to_thread(enqueuer.close)
    assert isinstance(done, ReportGenerated), done
    events = await store.read_stream(report_stream(asked.report_id))
    assert sum(isinstance(e.data, ReportGenerated) for e in events) == 1
    assert [e.data.attempt for e in events if isinstance(e.data, ReportStarted)] == [1, 2]
    assert done.findings == 300
