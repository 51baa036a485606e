"""Run one import in this process and print its peak RSS: `python -m bench.import_once`.

The import benchmark runs the importer in a process of its own so that the
peak resident memory it reports is the import's, not the benchmark's. Like
a running ingest worker, the process starts and connects first: it prints
``ready``, then reads ``SCAN_ID WORKSPACE`` from stdin, imports that scan,
prints ``imported`` and, once it has shut down, its peak RSS in bytes.
"""

from __future__ import annotations

import asyncio
import resource
import sys
from pathlib import Path

import nats

from services.ingest.importer import ingest_importer
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from shared.settings import Settings


async def main() -> None:
    settings = Settings.from_env()
    assert settings.database_url
    assert settings.nats_url
    pool = await connect_pool(settings.database_url, max_size=4)
    nc = await nats.connect(settings.nats_url)
    importer = ingest_importer(pool, EventStore(pool), ScanObjectStore(nc.jetstream()))
    print("ready", flush=True)
    scan_id, workspace_id = (await asyncio.to_thread(sys.stdin.readline)).split()
    await importer.run(scan_id, workspace_id)
    print("imported", flush=True)
    await nc.drain()
    await pool.close()


def peak_rss() -> int:
    """This program's peak resident memory in bytes.

    `ru_maxrss` of a forked and exec'd child also counts the parent's memory
    at the fork (Linux carries the old address space's high-water mark over
    the exec), so the benchmark's own growth would show up as the import's;
    VmHWM belongs to this program's address space only.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    asyncio.run(main())
    print(peak_rss(), flush=True)
