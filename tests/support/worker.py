"""A service process for kill tests: `python -m tests.support.worker [--no-relay] [--project]`.

Runs the shared runtime (relay candidate) and, with --project, the notes
projection behind a durable JetStream consumer, until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio

from shared.bus import add_projection_consumer
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from tests.support.events import NOTES_TABLE, NotesProjection


async def main(relay: bool, project: bool) -> None:
    async def setup(runtime: Runtime) -> None:
        if project:
            async with runtime.pool.acquire() as conn:
                await conn.execute(NOTES_TABLE)
            runner = ProjectionRunner(runtime.pool, [NotesProjection()])
            add_projection_consumer(runtime.broker, runtime.settings, runner, durable="testworker")

    async with open_runtime(Settings.from_env(), "testworker", setup=setup, relay=relay):
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-relay", action="store_true")
    parser.add_argument("--project", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(relay=not args.no_relay, project=args.project))
