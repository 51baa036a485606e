"""A triggers replica as a process of its own.

`python -m tests.integration.triggers.replica_process`

Runs the service (consumer, scheduler, actions) on the servers the
environment names until it is terminated.
"""

from __future__ import annotations

import asyncio
import signal

from services.triggers.app import triggers_runtime
from shared.settings import Settings


async def main() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with triggers_runtime(Settings.from_env(), poll=0.1):
        print("worker ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
