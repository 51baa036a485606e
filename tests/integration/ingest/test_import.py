"""Importing scans end to end: object store, log, a real dramatiq worker, read models."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import IO

import asyncpg
import pytest

from services.ingest.importer import Importer, ingest_importer
from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from services.ingest.search_vectors import SearchText, SearchVectors
from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingReopened,
    ScanCompleted,
    ScanFailed,
    scan_stream,
)
from shared.eventstore import EventStore
from shared.filling_file import FillingFile, TransferFailed
from shared.objectstore import ScanObjectStore
from shared.projections import ProjectionRunner
from tests.integration.ingest.conftest import (
    project,
    read_models,
    upload,
    wait_finished,
    workspace_events,
)
from tests.integration.ingest.formats import FormatsWithFixture, scan_file
from tests.support.scans import jsonl_scan

HOSTS = {
    "10.0.0.1": ["p1", "r2", "r3"],
    "10.0.0.2": ["p1", "r4"],
    "10.0.0.3": [],
}


async def import_file(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    workspace_id: str,
    content: bytes,
    **options: str,
) -> ScanCompleted | ScanFailed:
    scan_id = await upload(store, objects, workspace_id, content, **options)
    await asyncio.to_thread(queue.enqueue, scan_id, workspace_id)
    return await wait_finished(store, scan_id)


async def test_import_builds_hosts_services_and_findings(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    done = await import_file(store, objects, queue, workspace_id, scan_file(HOSTS))
    assert isinstance(done, ScanCompleted), done
    assert (done.format, done.hosts, done.services, done.findings) == ("vigil-test-jsonl", 3, 3, 5)
    assert done.findings_new == 5
    await project(pool, workspace_id)
    models = await read_models(pool, workspace_id)
    assert len(models["ingest_hosts"]) == 3
    assert {row["port"] for row in models["ingest_services"]} == {22}
    findings = models["ingest_findings"]
    assert len(findings) == 5
    assert {f["status"] for f in findings} == {"open"}
    assert {f["scanners"][0] for f in findings} == {"testscanner"}
    async with pool.acquire() as conn:
        scan = await conn.fetchrow("SELECT * FROM ingest_scans WHERE scan_id = $1", done.scan_id)
    assert scan["status"] == "applied"
    assert (scan["findings"], scan["findings_new"], scan["attempts"]) == (5, 5, 1)


async def test_reimport_of_same_file_changes_nothing(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    content = scan_file(HOSTS)
    first = await import_file(store, objects, queue, workspace_id, content)
    assert isinstance(first, ScanCompleted)
    await project(pool, workspace_id)
    before = await read_models(pool, workspace_id)
    second = await import_file(store, objects, queue, workspace_id, content)
    assert isinstance(second, ScanCompleted)
    assert second.duplicate_of == first.scan_id
    await project(pool, workspace_id)
    assert await read_models(pool, workspace_id) == before


async def test_later_scan_closes_what_disappeared_and_reopens_what_came_back(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    await import_file(store, objects, queue, workspace_id, scan_file(HOSTS))
    fewer = {"10.0.0.1": ["p1"], "10.0.0.2": ["p1", "r4"], "10.0.0.3": []}
    later = await import_file(store, objects, queue, workspace_id, scan_file(fewer))
    assert isinstance(later, ScanCompleted)
    assert (later.findings_closed, later.findings_observed) == (2, 3)
    back = {"10.0.0.1": ["p1", "r2"], "10.0.0.2": ["p1", "r4"], "10.0.0.3": []}
    last = await import_file(store, objects, queue, workspace_id, scan_file(back))
    assert isinstance(last, ScanCompleted)
    assert (last.findings_reopened, last.findings_closed) == (1, 0)

    events = [e.data for e in await workspace_events(store, workspace_id)]
    closed = [e for e in events if isinstance(e, FindingClosed)]
    assert len(closed) == 2
    (reopened,) = [e for e in events if isinstance(e, FindingReopened)]
    assert reopened.fingerprint in {e.fingerprint for e in closed}
    await project(pool, workspace_id)
    findings = (await read_models(pool, workspace_id))["ingest_findings"]
    by_title = {f["title"]: f["status"] for f in findings if f["asset_key"] == "10.0.0.1"}
    assert by_title == {"Issue p1": "open", "Issue r2": "reopened", "Issue r3": "fixed"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (scan_file(HOSTS, truncate=True), "truncated"),
        (scan_file(HOSTS)[:-30] + b"{not json\n", "not valid JSON"),
        (b"", "empty"),
        (b"\x00\x01binary\xff" * 100, "does not recognise"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<lolz>&lol2;</lolz>",
            "",
        ),
    ],
    ids=["truncated", "malformed", "empty", "binary", "xml-bomb"],
)
async def test_bad_file_fails_with_a_reason_and_writes_nothing(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
    content: bytes,
    reason: str,
) -> None:
    done = await import_file(store, objects, queue, workspace_id, content)
    assert isinstance(done, ScanFailed), done
    assert reason in done.reason
    assert done.reason.strip()
    contexts = {e.context for e in await workspace_events(store, workspace_id)}
    assert contexts == {"scan"}
    await project(pool, workspace_id)
    assert await read_models(pool, workspace_id) == {
        "ingest_hosts": [],
        "ingest_services": [],
        "ingest_findings": [],
    }
    async with pool.acquire() as conn:
        staged = await conn.fetchval(
            "SELECT count(*) FROM ingest_staging WHERE scan_id = $1", done.scan_id
        )
        status = await conn.fetchval(
            "SELECT status FROM ingest_scans WHERE scan_id = $1", done.scan_id
        )
    assert (staged, status) == (0, "failed")


async def test_two_imports_into_one_workspace_at_once_stay_correct(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    one = {f"10.1.0.{i}": ["p1", f"r{i}"] for i in range(1, 40)}
    two = {f"10.1.0.{i}": ["p1", f"s{i}"] for i in range(20, 60)}
    scans = [
        await upload(store, objects, workspace_id, scan_file(one)),
        await upload(store, objects, workspace_id, scan_file(two)),
    ]
    for scan_id in scans:
        await asyncio.to_thread(queue.enqueue, scan_id, workspace_id)
    results = [await wait_finished(store, scan_id) for scan_id in scans]
    assert all(isinstance(r, ScanCompleted) for r in results), results

    detected = Counter(
        e.data.fingerprint
        for e in await workspace_events(store, workspace_id)
        if isinstance(e.data, FindingDetected)
    )
    assert set(detected.values()) == {1}
    hosts = set(one) | set(two)
    shared = set(one) & set(two)
    assert len(detected) == len(hosts) + len(one) + len(two)
    await project(pool, workspace_id)
    models = await read_models(pool, workspace_id)
    assert len(models["ingest_hosts"]) == len(hosts)
    observed_twice = [f for f in models["ingest_findings"] if f["observations"] == 2]
    assert len(observed_twice) == len(shared)


def _importer(pool: asyncpg.Pool, store: EventStore, objects: ScanObjectStore) -> Importer:
    """An importer in this process (no queue), for tests that watch one attempt."""
    return ingest_importer(pool, store, objects, formats=FormatsWithFixture())


class _BreaksOffMidway(ScanObjectStore):
    """The real store, except that streamed downloads stop after their first 100 bytes."""

    @contextlib.asynccontextmanager
    async def download_streaming(self, name: str) -> AsyncIterator[IO[bytes]]:
        async with self.download(name) as whole:
            file = FillingFile()
            file.append(whole.read(100))
            file.finish(TransferFailed("the connection to NATS dropped"))
            try:
                yield io.BufferedReader(file)
            finally:
                file.close()


async def test_a_download_that_breaks_off_fails_the_attempt_not_the_scan(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
) -> None:
    scan_id = await upload(store, objects, workspace_id, scan_file(HOSTS))
    broken = _BreaksOffMidway(objects._js)

    with pytest.raises(TransferFailed, match="dropped"):
        await _importer(pool, store, broken).run(scan_id, workspace_id)

    types = [e.type for e in await store.read_stream(scan_stream(scan_id))]
    assert types[-1] == "ScanStarted"  # no ScanFailed: the job is retried
    assert {e.context for e in await workspace_events(store, workspace_id)} == {"scan"}
    await _importer(pool, store, objects).run(scan_id, workspace_id)
    done = (await store.read_stream(scan_stream(scan_id)))[-1].data
    assert isinstance(done, ScanCompleted), done
    assert done.findings == 5


@pytest.mark.parametrize("findings", [3, 40], ids=["one by one", "in bulk"])
async def test_nul_characters_in_a_scan_reach_the_read_models_as_replacement_characters(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
    findings: int,
) -> None:
    lines = [{"vigil-test": 1}, {"host": "10.9.9.9"}] + [
        {"finding": "10.9.9.9", "rule": f"r{i}", "title": f"Dump\x00{i}", "description": "a\x00b"}
        for i in range(findings)
    ]
    lines.append({"end": len(lines) - 1})
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    scan_id = await upload(store, objects, workspace_id, content)

    await _importer(pool, store, objects).run(scan_id, workspace_id)

    done = (await store.read_stream(scan_stream(scan_id)))[-1].data
    assert isinstance(done, ScanCompleted), done
    rows = (await read_models(pool, workspace_id))["ingest_findings"]
    assert sorted(row["title"] for row in rows) == sorted(f"Dump\ufffd{i}" for i in range(findings))
    assert {row["description"] for row in rows} == {"a\ufffdb"}


class _CountingVectors(SearchVectors):
    """Search vectors that count how many of the vectors written were stemmed ahead."""

    hits = 0

    def get(self, text: SearchText) -> bytes | None:
        vector = super().get(text)
        self.hits += vector is not None
        return vector


def _counting_importer(
    pool: asyncpg.Pool, store: EventStore, objects: ScanObjectStore, *, chunk: int = 2000
) -> tuple[Importer, _CountingVectors]:
    """An importer stemming ahead, with the vectors that count how often that served."""
    vectors = _CountingVectors(pool)
    runner = ProjectionRunner(pool, ingest_projections(vectors))
    importer = Importer(
        pool, store, objects, runner, formats=FormatsWithFixture(), vectors=vectors, chunk=chunk
    )
    return importer, vectors


_SEARCH_AS_FIRST_DEFINED = (
    "setweight(to_tsvector('simple', coalesce(title, '')), 'A')"
    " || setweight(to_tsvector('simple', array_to_string(cve, ' ')), 'A')"
    " || setweight(to_tsvector('simple', coalesce(asset_key, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(left(description, 1000), '')), 'C')"
)
"""`ingest_finding_search` as migration 0002 wrote it, before it was split into parts."""


def _many_findings(descriptions: list[str]) -> bytes:
    lines: list[dict[str, object]] = [{"vigil-test": 1}, {"host": "10.7.7.7"}]
    lines += [
        {"finding": "10.7.7.7", "rule": f"r{i}", "title": f"Flaw {i}", "cve": [f"CVE-2026-{i}"],
         "description": text}
        for i, text in enumerate(descriptions)
    ]  # fmt: skip
    lines.append({"end": len(lines) - 1})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.mark.parametrize("chunk", [2000, 40], ids=["one chunk", "parts kept across chunks"])
async def test_findings_sharing_a_text_on_many_hosts_get_the_vectors_the_database_computes(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
    chunk: int,
) -> None:
    importer, vectors = _counting_importer(pool, store, objects, chunk=chunk)
    hosts = [f"10.8.0.{h}" for h in range(1, 6)]
    # Findings are told apart by their lowest CVE, else their rule: CVEs differ per rule.
    plugins: list[tuple[str, str | None, int]] = [  # title, description, CVEs
        ("Weak ciphers offered", "Ciphers weak.", 1),
        ("Weak ciphers offered", "Ciphers weak.", 0),
        ("Server header discloses version", None, 2),
        ("Stale certificate", "Expired since " * 200, 0),
    ]
    lines: list[dict[str, object]] = [{"host": h} for h in hosts]
    for i in range(20):
        title, description, cves = plugins[i % len(plugins)]
        cve = [f"CVE-2026-{1000 + 10 * i + n}" for n in range(cves)]
        lines += [
            {"finding": h, "rule": f"r{i}", "title": title, "cve": cve, "description": description}
            for h in hosts
        ]
    await importer.run(await upload(store, objects, workspace_id, jsonl_scan(*lines)), workspace_id)

    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT asset_key, search = {_SEARCH_AS_FIRST_DEFINED} AS same FROM ingest_findings"
            " WHERE workspace_id = $1",
            workspace_id,
        )
    assert len(rows) == 100
    assert all(row["same"] for row in rows)
    assert {row["asset_key"] for row in rows} == set(hosts)
    assert vectors.hits == 100


@pytest.mark.parametrize("findings", [3, 40], ids=["one by one", "in bulk"])
async def test_an_empty_scope_tag_is_kept_and_a_later_scan_under_it_closes_what_it_misses(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
    findings: int,
) -> None:
    importer = _importer(pool, store, objects)
    texts = [f"Weak cipher number {i}" for i in range(findings)]
    for reported in (texts, texts[:-1]):
        content = _many_findings(reported)
        await importer.run(
            await upload(store, objects, workspace_id, content, scope=""), workspace_id
        )

    rows = (await read_models(pool, workspace_id))["ingest_findings"]
    assert {tuple(row["scopes"]) for row in rows} == {("",)}
    assert sorted(row["title"] for row in rows if row["status"] == "fixed") == [
        f"Flaw {findings - 1}"
    ]


async def test_search_vectors_stemmed_ahead_are_the_ones_the_database_computes(
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
    ingest_schema: None,
) -> None:
    importer, vectors = _counting_importer(pool, store, objects)
    first = [f"Buffer overflows in parser number {i}" for i in range(40)]
    await importer.run(
        await upload(store, objects, workspace_id, _many_findings(first)), workspace_id
    )
    assert vectors.hits == 40

    later = [*first[:39], "Injected commands reach the shell"]
    await importer.run(
        await upload(store, objects, workspace_id, _many_findings(later)), workspace_id
    )

    async with pool.acquire() as conn:
        stale = await conn.fetchval(
            "SELECT count(*) FROM ingest_findings WHERE workspace_id = $1 AND search"
            " IS DISTINCT FROM ingest_finding_search(title, cve, asset_key, description)",
            workspace_id,
        )
        found = await conn.fetch(
            "SELECT title FROM ingest_findings WHERE workspace_id = $1"
            " AND search @@ websearch_to_tsquery('english', $2)",
            workspace_id,
            "injection",
        )
    assert stale == 0
    assert [r["title"] for r in found] == ["Flaw 39"]
