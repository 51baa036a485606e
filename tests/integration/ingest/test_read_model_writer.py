"""An import writes its read models on a second connection: the log stays the truth.

A failure on either connection before the events commit leaves nothing; read
models lost after the events committed are caught up from the log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from services.ingest.importer import ingest_importer
from services.ingest.projections import InventoryProjection
from services.ingest.read_model_writer import ReadModelWriter
from shared.contracts import ScanCompleted, scan_stream
from shared.eventstore import EventStore
from tests.integration.ingest.conftest import project, read_models, upload, workspace_events
from tests.integration.ingest.formats import FormatsWithFixture, scan_file

if TYPE_CHECKING:
    from shared.objectstore import ScanObjectStore

pytestmark = pytest.mark.usefixtures("ingest_schema")

# 40 hosts of 60 findings: several chunks, so that some are applied while others append.
_SCAN = scan_file({f"10.9.{h // 250}.{h % 250}": [f"r{r}" for r in range(60)] for h in range(40)})
_EMPTY = {"ingest_hosts": [], "ingest_services": [], "ingest_findings": []}


class _Lost(RuntimeError):
    """Stands for a connection that broke."""


def _third_call_breaks(method: Any, counts: Any) -> Any:
    """`method`, raising `_Lost` on the third call that `counts(kwargs)` accepts."""
    calls = 0

    async def breaks(self: object, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += bool(counts(kwargs))
        if calls == 3:
            raise _Lost("connection lost")
        return await method(self, *args, **kwargs)

    return breaks


@pytest.mark.parametrize(
    ("owner", "name", "counts"),
    [
        (InventoryProjection, "apply_batch", lambda kwargs: True),
        # Only the import's own appends, in its transaction, not ScanStarted and progress.
        (EventStore, "append", lambda kwargs: kwargs.get("conn") is not None),
    ],
    ids=["a read-model write", "an append, while a chunk is being applied"],
)
async def test_a_failure_before_the_events_commit_leaves_nothing_and_a_retry_applies_whole(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    monkeypatch: pytest.MonkeyPatch,
    owner: type,
    name: str,
    counts: Any,
) -> None:
    importer = ingest_importer(pool, store, objects, formats=FormatsWithFixture())
    scan_id = await upload(store, objects, workspace_id, _SCAN)
    monkeypatch.setattr(owner, name, _third_call_breaks(getattr(owner, name), counts))
    with pytest.raises(_Lost):
        await importer.run(scan_id, workspace_id)

    assert {e.context for e in await workspace_events(store, workspace_id)} == {"scan"}
    assert await read_models(pool, workspace_id) == _EMPTY
    monkeypatch.undo()
    await importer.run(scan_id, workspace_id)
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
