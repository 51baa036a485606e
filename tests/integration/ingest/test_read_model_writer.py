"""An import writes its read models on a second connection: the log stays the truth.

A failure on either connection before the events commit leaves nothing; read
models lost after the events committed are caught up from the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

from services.ingest.importer import ingest_importer
from services.ingest.projections import InventoryProjection
from services.ingest.read_model_writer import ReadModelWriter
from shared.contracts import ScanCompleted, scan_stream
from tests.integration.ingest.conftest import project, read_models, upload, workspace_events
from tests.integration.ingest.formats import FormatsWithFixture, scan_file

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.contracts import RecordedEvent
    from shared.database import Connection
    from shared.eventstore import EventStore
    from shared.objectstore import ScanObjectStore

pytestmark = pytest.mark.usefixtures("ingest_schema")

# 40 hosts of 60 findings: several chunks, so that some are applied while others append.
_SCAN = scan_file({f"10.9.{h // 250}.{h % 250}": [f"r{r}" for r in range(60)] for h in range(40)})
_EMPTY = {"ingest_hosts": [], "ingest_services": [], "ingest_findings": []}


class _Lost(RuntimeError):
    """Stands for a connection that broke."""


async def test_a_failed_read_model_write_fails_the_import_and_no_event_commits(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    applied = 0
    apply_batch = InventoryProjection.apply_batch

    async def breaks_on_the_third_chunk(
        self: InventoryProjection, conn: Connection, events: Sequence[RecordedEvent]
    ) -> None:
        nonlocal applied
        applied += 1
        if applied == 3:
            raise _Lost("connection lost")
        await apply_batch(self, conn, events)

    monkeypatch.setattr(InventoryProjection, "apply_batch", breaks_on_the_third_chunk)
    importer = ingest_importer(pool, store, objects, formats=FormatsWithFixture())
    scan_id = await upload(store, objects, workspace_id, _SCAN)
    with pytest.raises(_Lost):
        await importer.run(scan_id, workspace_id)

    assert {e.context for e in await workspace_events(store, workspace_id)} == {"scan"}
    assert await read_models(pool, workspace_id) == _EMPTY
    monkeypatch.undo()
    await importer.run(scan_id, workspace_id)  # the retried job applies it whole
    assert len((await read_models(pool, workspace_id))["ingest_findings"]) == 40 * 60


async def test_read_models_lost_after_the_events_committed_are_caught_up_from_the_log(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def lost(self: ReadModelWriter) -> None:
        raise _Lost("connection lost before the read models committed")

    monkeypatch.setattr(ReadModelWriter, "commit", lost)
    importer = ingest_importer(pool, store, objects, formats=FormatsWithFixture())
    scan_id = await upload(store, objects, workspace_id, _SCAN)
    with pytest.raises(_Lost):
        await importer.run(scan_id, workspace_id)
    assert any(
        isinstance(e.data, ScanCompleted) for e in await store.read_stream(scan_stream(scan_id))
    )
    assert await read_models(pool, workspace_id) == _EMPTY

    monkeypatch.undo()
    await importer.run(scan_id, workspace_id)  # a retried job: the scan is done already
    await project(pool, workspace_id)  # what the projection consumer does
    caught_up = await read_models(pool, workspace_id)
    assert len(caught_up["ingest_hosts"]) == 40
    assert len(caught_up["ingest_findings"]) == 40 * 60

    again = await upload(store, objects, workspace_id, _SCAN)
    await ingest_importer(pool, store, objects, formats=FormatsWithFixture()).run(
        again, workspace_id
    )
    assert await read_models(pool, workspace_id) == caught_up
