"""An ingest import worker as a process of its own, for crash tests.

`python -m tests.integration.ingest.worker_process` serves the import queue
(with the test format and fast fail-over) until it is killed.
"""

from __future__ import annotations

import signal
import threading

from services.ingest.jobs import ImportQueue
from shared.settings import Settings
from tests.integration.ingest.conftest import FAST_FAILOVER
from tests.integration.ingest.formats import FormatsWithFixture


def main() -> None:
    queue = ImportQueue(Settings.from_env(), formats=FormatsWithFixture(), **FAST_FAILOVER)
    queue.start_worker()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("worker ready", flush=True)
    stop.wait()
    queue.close()


if __name__ == "__main__":
    main()
