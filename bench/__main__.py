"""`make bench`: every performance figure vigil promises, with its ceiling from the same run."""

from __future__ import annotations

import asyncio
import sys

from bench import append, ingest, relay, replay, reports, triggers, ws_latency
from bench.harness import Figure, fresh_settings, servers

SUITES = (append, ws_latency, relay, ingest, replay, triggers, reports)


async def main() -> int:
    figures: list[Figure] = []
    with servers() as addresses:
        for suite in SUITES:
            print(f"\n== {suite.__doc__}", flush=True)
            async with fresh_settings(addresses) as settings:
                figures += await suite.run(settings)
    below = [f.name for f in figures if f.meets is False]
    print(f"\n{len(figures)} figures, {len(below)} below target", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
