"""Every real scanner file of the shared corpus through the whole import, read models included.

The parser tests compare each file's items with MANIFEST.md; this test checks
that the import applies exactly what the parser yields (one finding per
distinct fingerprint, one host per distinct asset), and that a broken file
fails with a reason and leaves nothing behind.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import nats
import pytest

from services.ingest.identity import asset_id, fingerprint
from services.ingest.importer import Importer, ingest_importer
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved
from services.ingest.parsers.registry import detect_format, parser_for
from shared.contracts import ScanCompleted, ScanFailed, scan_stream
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.objectstore import ScanObjectStore
from shared.settings import Settings
from tests.corpus.conftest import SCANS_DIR
from tests.corpus.test_xml_corpus import REJECTED
from tests.integration.ingest.conftest import project, upload

BROKEN_PREFIX = "broken/"
EMPTY_WITH_HINT = {"nuclei/empty.jsonl": "nuclei-jsonl", "nuclei/no_findings.json": "nuclei-json"}
NOT_SCANS = {"MANIFEST.md", "PARSING-NOTES.md"}


def _files() -> list[str]:
    if not SCANS_DIR.is_dir():
        return []
    return sorted(
        str(path.relative_to(SCANS_DIR))
        for path in SCANS_DIR.rglob("*")
        if path.is_file() and path.name not in NOT_SCANS
    )


def _faraday_gave_nothing() -> set[str]:
    """Part 1 rows whose last column (faraday-plugins) says 'no result'."""
    rows = set()
    part1 = (SCANS_DIR / "MANIFEST.md").read_text().split("## Part 2")[0]
    for line in part1.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 6 and cells[-1] == "no result":
            rows.add(cells[0])
    return rows


@pytest.fixture(scope="module")
async def importer(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Importer]:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "ingest", "services.ingest")
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        yield ingest_importer(pool, EventStore(pool), ScanObjectStore(nc.jetstream()))
    finally:
        await nc.drain()


def _expected(name: str, workspace_id: str) -> tuple[set[str], set[str]]:
    """Distinct host and finding identities the parser yields for the file."""
    path = SCANS_DIR / name
    with path.open("rb") as file:
        head = file.read(64 * 1024)
        file.seek(0)
        parser = (
            parser_for(EMPTY_WITH_HINT[name]) if name in EMPTY_WITH_HINT else detect_format(head)
        )
        hosts, findings = set(), set()
        for item in parser().parse(file):
            if isinstance(item, HostObserved) and item.status == "down":
                continue  # an unreachable target is reported, not recorded as a host
            if isinstance(item, HostObserved | ServiceObserved | FindingObserved):
                hosts.add(asset_id(workspace_id, item.asset))
            if isinstance(item, FindingObserved):
                findings.add(fingerprint(workspace_id, item))
    return hosts, findings


@pytest.mark.corpus
@pytest.mark.parametrize("name", _files())
async def test_corpus_file_imports_completely_or_fails_cleanly(
    scans_dir: Path, name: str, importer: Importer, store: EventStore, pool: asyncpg.Pool
) -> None:
    workspace_id = f"corpus-{secrets.token_hex(5)}"
    scan_id = await upload(
        store,
        importer._objects,
        workspace_id,
        (scans_dir / name).read_bytes(),
        format_hint=EMPTY_WITH_HINT.get(name),
    )

    await importer.run(scan_id, workspace_id)
    await project(pool, workspace_id)

    outcome = [e.data for e in await store.read_stream(scan_stream(scan_id))][-1]
    async with pool.acquire() as conn:
        hosts = await conn.fetchval(
            "SELECT count(*) FROM ingest_hosts WHERE workspace_id = $1", workspace_id
        )
        findings = await conn.fetchval(
            "SELECT count(*) FROM ingest_findings WHERE workspace_id = $1", workspace_id
        )
    if name.startswith(BROKEN_PREFIX) or name in REJECTED:
        assert isinstance(outcome, ScanFailed), outcome
        assert len(outcome.reason) > 10
        assert (hosts, findings) == (0, 0)
        return
    assert isinstance(outcome, ScanCompleted), outcome
    expected_hosts, expected_findings = _expected(name, workspace_id)
    assert findings == len(expected_findings)
    assert hosts == len(expected_hosts)


@pytest.mark.corpus
def test_vigil_imports_every_file_faraday_could_not(scans_dir: Path) -> None:
    """The 25 real files of part 1 where faraday-plugins produced nothing are all imported."""
    nothing = _faraday_gave_nothing() - {
        n for n in _faraday_gave_nothing() if n.startswith(BROKEN_PREFIX)
    }

    assert len(nothing) == 25
    assert nothing <= set(_files())
    assert not nothing & set(REJECTED)
