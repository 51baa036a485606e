"""Import throughput (upload to read models) against raw appends and faraday-plugins' parse."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats

from bench import generate
from bench.harness import Figure, report
from services.ingest.projections import ingest_projections
from shared.contracts import ScanCompleted, ScanUploaded, scan_stream
from shared.database import connect_pool
from shared.eventstore import EventStore, StreamWrite
from shared.migrations import apply_migrations
from shared.objectstore import ScanObjectStore
from shared.projections import ProjectionRunner
from shared.settings import Settings
from tests.support.events import NoteTaken

RSS_CEILING = 300 * 1024 * 1024
FARADAY = os.environ.get("VIGIL_FARADAY_PLUGINS") or shutil.which("faraday-plugins")


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            yield chunk


async def _import(
    settings: Settings, store: EventStore, path: Path
) -> tuple[float, str, int, int, int, int]:
    """Upload, import in a child process, project.

    Returns seconds, the workspace, the log position before the import, its
    number of events, findings+services and the importer's peak RSS.
    """
    assert settings.nats_url
    assert settings.database_url
    workspace = f"bench-{secrets.token_hex(4)}"
    scan_id = f"scan-{secrets.token_hex(6)}"
    env = {
        **os.environ,
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_DATABASE_URL": settings.database_url,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.import_once",
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    if (await child.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the importer process did not start")
    nc = await nats.connect(settings.nats_url)
    started = time.perf_counter()  # a running worker: its start-up is not the import's
    stored = await ScanObjectStore(nc.jetstream()).put(scan_id, _chunks(path))
    [uploaded] = await store.append_to_stream(
        scan_stream(scan_id),
        workspace,
        [
            ScanUploaded(
                scan_id=scan_id, workspace_id=workspace, object_name=scan_id,
                filename=path.name, size=stored.size, sha256=stored.sha256,
            )
        ],
    )  # fmt: skip
    assert child.stdin is not None
    child.stdin.write(f"{scan_id} {workspace}\n".encode())
    await child.stdin.drain()
    while (line := await child.stdout.readline()).strip() != b"imported":  # past its log lines
        if not line:
            raise RuntimeError("the importer process ended before the import did")
    head = await store.head_position()
    pool = store._pool
    await ProjectionRunner(pool, ingest_projections()).catch_up(workspace, head)
    seconds = time.perf_counter() - started  # a running worker: its shutdown is not either
    out, _ = await child.communicate()
    rss = int(out.split()[-1])
    await nc.close()
    async with pool.acquire() as conn:  # counted in SQL: the bench's own memory stays flat
        events: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE workspace_id = $1 AND position > $2",
            workspace,
            uploaded.position,
        )
    [completed] = [
        e.data
        for e in await store.read_stream(scan_stream(scan_id))
        if isinstance(e.data, ScanCompleted)
    ]
    items = completed.findings + completed.services
    return seconds, workspace, uploaded.position, events, items, rss


async def _raw_append_of(store: EventStore, workspace: str, after: int) -> float:
    """Seconds to append the import's own events once more, 2,000 to an append (the ceiling).

    The same events, as they are in the log: writing them is all that is left
    of an import without parsing, deciding and read models.
    """
    seconds = 0.0
    async for batch in store.iter_all(after=after, batch_size=2000, workspace_id=workspace):
        writes = [
            StreamWrite(stream_id=f"raw-{e.stream_id}", workspace_id="bench-raw", events=[e.data])
            for e in batch
        ]
        started = time.perf_counter()
        await store.append(writes)
        seconds += time.perf_counter() - started
    return seconds


async def _raw_append_small(store: EventStore, events: int) -> float:
    """Seconds to append `events` small (200-character) events, 2,000 to an append."""
    started = time.perf_counter()
    for start in range(0, events, 2000):
        size = min(2000, events - start)
        await store.append(
            [StreamWrite(stream_id=f"raw-{start}-{i}", workspace_id="bench-raw",
                         events=[NoteTaken(text="x" * 200, n=i)]) for i in range(size)]
        )  # fmt: skip
    return time.perf_counter() - started


class FaradayFailed(Exception):
    """faraday-plugins ran but produced no report for the file."""


async def _faraday_parse(path: Path, faraday: str) -> float:
    """Seconds faraday-plugins takes to parse `path`, checked to have produced its hosts.

    Its report goes to a file of its own (``-o``), as a pipe into this process
    would add the time this process takes to read it (130 MB for the 100 MB file).
    """
    report = path.with_suffix(".faraday.json")
    started = time.perf_counter()
    child = await asyncio.create_subprocess_exec(
        faraday, "process-report", "-o", str(report), str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await child.communicate()
    seconds = time.perf_counter() - started
    try:
        with report.open("rb") as file:
            head = file.read(1 << 16)
        report.unlink()
    except FileNotFoundError:
        head = b""
    # It exits 0 after "Failed to detect report", so a quick failure would pass for speed.
    if child.returncode != 0 or not head.lstrip().startswith(b"{") or b'"hosts"' not in head:
        raise FaradayFailed(f"faraday-plugins did not parse {path.name}: {out[:300]!r}")
    return seconds


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    pool = await connect_pool(settings.database_url, max_size=4)
    async with pool.acquire() as conn:
        await apply_migrations(conn, "ingest", "services.ingest")
    store = EventStore(pool)
    figures = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as folder:
        # faraday-plugins picks its parser by file name too: give each file its usual suffix.
        files = {
            "Nessus 200 hosts x 49 items (~40 MB)": (generate.nessus, (200, 49), ".nessus"),
            "nmap 20,000 hosts (~14 MB)": (generate.nmap, (20_000,), ".xml"),
            "Nessus ~100 MB (600 hosts x 40 items)": (generate.nessus, (600, 40), ".nessus"),
        }
        for label, (make, args, suffix) in files.items():
            path = Path(folder) / f"{secrets.token_hex(3)}{suffix}"
            make(path, *args)  # type: ignore[operator]
            seconds, workspace, before, events, items, rss = await _import(settings, store, path)
            ceiling = await _raw_append_of(store, workspace, before)
            small = await _raw_append_small(store, events)
            figures.append(report(Figure(f"{label}: import, upload to read models", seconds, "s")))
            figures.append(
                report(
                    Figure(
                        f"{label}: findings+services/s vs raw append of its {events:,} events",
                        items / seconds,
                        "items/s",
                        ceiling=items / ceiling,
                        target="ratio >= 0.3",
                        meets=ceiling / seconds >= 0.3,
                    )
                )
            )
            figures.append(
                report(
                    Figure(
                        f"{label}: the same vs {events:,} small events (for reference)",
                        items / seconds,
                        "items/s",
                        ceiling=items / small,
                    )
                )
            )
            figures.append(
                report(
                    Figure(
                        f"{label}: importer peak RSS",
                        rss / 2**20,
                        "MiB",
                        ceiling=RSS_CEILING / 2**20,
                        target="< 300 MiB",
                        meets=rss < RSS_CEILING,
                    )
                )
            )
            if FARADAY is None:
                print("  faraday-plugins not installed: `make bench` installs the bench extra")
            else:
                try:
                    faraday = await _faraday_parse(path, FARADAY)
                except FaradayFailed as failed:
                    print(f"  {failed}: no comparison for this file")
                else:
                    figures.append(
                        report(
                            Figure(
                                f"{label}: faraday-plugins parse alone",
                                faraday,
                                "s",
                                ceiling=seconds,
                                target="ratio > 1 (vigil faster)",
                                meets=faraday > seconds,
                            )
                        )
                    )
            path.unlink()
    await pool.close()
    return figures
