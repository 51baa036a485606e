"""(r) Rendering the 50,000-finding executive report from the log (PDF; HTML for comparison)."""

from __future__ import annotations

import time

import nats

from bench.harness import Figure, report
from services.reports.builder import ReportBuilder
from shared.contracts import ReportFormat, ReportTemplate
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.objectstore import REPORTS_BUCKET, ScanObjectStore
from shared.settings import Settings
from tests.integration.reports.conftest import append_history, record_request
from tests.unit.reports.factory import workspace_history

FINDINGS = 50_000
CEILING = 60.0


async def _render(builder: ReportBuilder, store: EventStore, fmt: ReportFormat) -> float:
    asked = await record_request(
        store, "bench-reports", format=fmt, template=ReportTemplate.EXECUTIVE
    )
    started = time.perf_counter()
    await builder.run(asked.report_id)
    return time.perf_counter() - started


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    assert settings.nats_url
    pool = await connect_pool(settings.database_url, max_size=4)
    nc = await nats.connect(settings.nats_url)
    try:
        store = EventStore(pool)
        await append_history(store, "bench-reports", workspace_history("bench-reports", FINDINGS))
        builder = ReportBuilder(pool, store, ScanObjectStore(nc.jetstream(), bucket=REPORTS_BUCKET))
        html = await _render(builder, store, ReportFormat.HTML)
        pdf = await _render(builder, store, ReportFormat.PDF)
    finally:
        await nc.close()
        await pool.close()
    return [
        report(
            Figure(
                "report, 50k findings, executive HTML (fold + render + store)",
                html,
                "s",
                ceiling=CEILING,
                target="< 60 s",
                meets=html < CEILING,
            )
        ),
        report(
            Figure(
                "report, 50k findings, executive PDF (fold + Typst + store)",
                pdf,
                "s",
                ceiling=CEILING,
                target="< 60 s",
                meets=pdf < CEILING,
            )
        ),
    ]
