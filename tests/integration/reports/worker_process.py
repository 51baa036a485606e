"""A reports worker as a process of its own, for crash tests.

`python -m tests.integration.reports.worker_process` serves the render queue
with a renderer that stalls for a minute (so a test can kill it mid-render)
and fast fail-over, until it is killed.
"""

from __future__ import annotations

import signal
import threading
import time

from services.reports.jobs import ReportQueue
from services.reports.render import render
from services.reports.render.model import ReportModel
from shared.contracts import ReportFormat
from shared.settings import Settings
from tests.integration.reports.conftest import FAST_FAILOVER


def stalling_render(model: ReportModel, format: ReportFormat) -> bytes:
    time.sleep(60)
    return render(model, format)


def main() -> None:
    queue = ReportQueue(Settings.from_env(), renderer=stalling_render, **FAST_FAILOVER)  # type: ignore[arg-type]
    queue.start_worker()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("worker ready", flush=True)
    stop.wait()
    queue.close()


if __name__ == "__main__":
    main()
