"""Rendering a requested report from the real log into the real object store."""

from __future__ import annotations

import hashlib
import io

import pypdf
import pytest

from services.reports.builder import ReportBuilder
from services.reports.jobs import ReportQueue
from shared.contracts import (
    ReportFormat,
    ReportGenerated,
    ReportProgressed,
    ReportStarted,
    ReportTemplate,
    report_stream,
)
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from tests.integration.reports.conftest import (
    append_history,
    read_file,
    record_request,
    wait_outcome,
)
from tests.unit.reports.factory import HOSTILE_TITLE, closed, detected, workspace_history

pytestmark = pytest.mark.usefixtures("reports_schema")


async def test_a_report_is_generated_once_with_progress(
    builder: ReportBuilder, store: EventStore, files: ScanObjectStore, workspace_id: str
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 1500))
    asked = await record_request(store, workspace_id, format=ReportFormat.JSON)

    await builder.run(asked.report_id)
    await builder.run(asked.report_id)  # a repeated job changes nothing

    events = await store.read_stream(report_stream(asked.report_id))
    generated = [e.data for e in events if isinstance(e.data, ReportGenerated)]
    assert len(generated) == 1
    assert sum(isinstance(e.data, ReportStarted) for e in events) == 1
    assert any(isinstance(e.data, ReportProgressed) for e in events)
    done = generated[0]
    content = await read_file(files, done.object_name)
    assert (done.size, done.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert (done.content_type, done.findings, done.position) == (
        "application/json",
        1500,
        asked.position,
    )
    assert done.filename.endswith(".json")


@pytest.mark.parametrize("format", list(ReportFormat))
async def test_the_same_request_later_reproduces_the_report(
    builder: ReportBuilder,
    store: EventStore,
    files: ScanObjectStore,
    workspace_id: str,
    format: ReportFormat,
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 200))
    asked = await record_request(
        store, workspace_id, format=format, template=ReportTemplate.TECHNICAL
    )
    await builder.run(asked.report_id)
    done = await wait_outcome(store, asked.report_id)
    assert isinstance(done, ReportGenerated)
    first = await read_file(files, done.object_name)

    # The log moves on: more findings, some closed. The request still means the same report.
    await append_history(
        store,
        workspace_id,
        [detected(workspace_id, i) for i in range(200, 260)]
        + [closed(workspace_id, i, day=20) for i in range(0, 200, 3)],
    )
    [request] = [e for e in await store.read_stream(report_stream(asked.report_id))][:1]
    _, again = await builder.build(asked, request.recorded_at)

    if format is ReportFormat.PDF:
        assert _pdf_text(again) == _pdf_text(first)
    else:
        assert again == first


async def test_pdf_has_the_workspace_name_the_counts_and_the_literal_title(
    builder: ReportBuilder, store: EventStore, files: ScanObjectStore, workspace_id: str
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 25))
    asked = await record_request(store, workspace_id, format=ReportFormat.PDF)
    await builder.run(asked.report_id)
    done = await wait_outcome(store, asked.report_id)
    assert isinstance(done, ReportGenerated)
    text = _pdf_text(await read_file(files, done.object_name))
    assert f"Acme {workspace_id}" in text
    assert "25 findings are recorded, 21 of them open" in text
    assert " ".join(HOSTILE_TITLE.split()) in text


async def test_trend_compares_with_the_previous_report_of_the_same_template(
    builder: ReportBuilder, store: EventStore, files: ScanObjectStore, workspace_id: str
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 10, hostile=False))
    first = await record_request(store, workspace_id, format=ReportFormat.JSON)
    await append_history(store, workspace_id, [detected(workspace_id, i) for i in range(10, 15)])
    second = await record_request(store, workspace_id, format=ReportFormat.JSON)
    await builder.run(second.report_id)
    done = await wait_outcome(store, second.report_id)
    assert isinstance(done, ReportGenerated)
    import json

    trend = json.loads(await read_file(files, done.object_name))["trend"]
    assert trend["previous_report_id"] == first.report_id
    assert trend["change"] == 5
    assert trend["open_now"] - trend["open_before"] == 5


async def test_requests_are_rendered_by_the_queue(
    queue: ReportQueue, store: EventStore, workspace_id: str
) -> None:
    await append_history(store, workspace_id, workspace_history(workspace_id, 30))
    asked = await record_request(store, workspace_id, format=ReportFormat.MARKDOWN)
    queue.enqueue(asked.report_id, workspace_id)
    queue.enqueue(asked.report_id, workspace_id)
    done = await wait_outcome(store, asked.report_id)
    assert isinstance(done, ReportGenerated)
    assert done.content_type == "text/markdown; charset=utf-8"


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)
