"""Job queues on dramatiq with PostgreSQL as the broker: heavy work, outside the event flow.

A service subclasses `JobQueue` once per kind of job (ingest: imports,
reports: rendering). Every replica of the service runs a `dramatiq.Worker`
on the same queue, so replicas share the jobs. A job that fails is retried
with back-off; one whose worker dies (no heartbeat for `heartbeat_ttl`
seconds) is handed to another worker by the broker's maintenance. Jobs are
keyed: enqueueing the same key again while its job waits or runs changes
nothing, so a redelivered event never starts a second run. A job must make
a second run a no-op itself, because delivery is at least once.
"""

from __future__ import annotations

import abc
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

import dramatiq
import psycopg
from dramatiq.middleware import CurrentMessage
from dramatiq_postgres import PostgresBroker
from dramatiq_postgres import init as init_queue_schema
from dramatiq_postgres.utils import tidy4json, transaction
from psycopg.types.json import Json

if TYPE_CHECKING:
    from dramatiq import Message

    from shared.settings import Settings

__all__ = ("JobBroker", "JobQueue", "QueueOptions")

# Enqueue a message unless the same message is being worked on right now in the same
# queue: a redelivered event must not restart a running job, while the broker's own
# moves (retry into the delay queue, delay queue back into the queue) still go through.
_ENQUEUE = """
WITH enqueued AS (
    INSERT INTO dramatiq.queue AS q (queue_name, message_id, "state", message, available_at)
    VALUES (%s, %s, 'queued', %s, NOW() + make_interval(secs => %s / 1000.0))
    ON CONFLICT (message_id) DO UPDATE SET
        "state" = 'queued', message = EXCLUDED.message, queue_name = EXCLUDED.queue_name,
        available_at = EXCLUDED.available_at, worker_id = NULL, consumed_at = NULL,
        mtime = NOW()
    WHERE NOT (q."state" = 'consumed' AND q.queue_name = EXCLUDED.queue_name)
    RETURNING queue_name
)
SELECT pg_notify('dramatiq.' || queue_name || '.enqueue', '') FROM enqueued
"""


class JobBroker(PostgresBroker):  # type: ignore[misc]
    """The PostgreSQL broker with an enqueue that never restarts a running job."""

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """Queue `message` (after `delay` ms); a no-op while the same message is consumed."""
        self.emit_before("enqueue", message, delay)
        if delay:
            message = message.copy(queue_name=dramatiq.common.dq_name(message.queue_name))
            message.options["eta"] = dramatiq.common.current_millis() + delay
        with transaction(self.pool) as curs:
            curs.execute(
                _ENQUEUE,
                (message.queue_name, message.message_id, Json(tidy4json(message)), delay or 0),
            )
        self.emit_after("enqueue", message, delay)
        return message


class QueueOptions(TypedDict, total=False):
    """Tuning of a `JobQueue`; times in seconds.

    The heartbeat, maintenance and poll intervals decide how soon the job of
    a dead worker is handed to another one: within about `heartbeat_ttl`
    plus `maintenance_interval`.
    """

    worker_threads: int
    max_retries: int
    time_limit: float
    min_backoff: float
    max_backoff: float
    heartbeat_interval: float
    heartbeat_ttl: float
    maintenance_interval: float
    poll_interval: float


class JobQueue(abc.ABC):
    """One kind of job: its dramatiq broker, actor and (once started) worker, for one process.

    Subclasses name the queue, the actor and the namespace job ids are
    derived in, and implement `perform`.
    """

    queue_name: ClassVar[str]
    actor_name: ClassVar[str]
    message_namespace: ClassVar[uuid.UUID]
    default_time_limit: ClassVar[float] = 1800.0

    def __init__(
        self,
        settings: Settings,
        *,
        worker_threads: int = 2,
        max_retries: int = 5,
        time_limit: float | None = None,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        heartbeat_interval: float = 15.0,
        heartbeat_ttl: float = 60.0,
        maintenance_interval: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        assert settings.database_url
        self.settings = settings
        self.max_retries = max_retries
        self._worker_threads = worker_threads
        with psycopg.connect(settings.database_url) as conn, conn.cursor() as curs:
            init_queue_schema(curs)
        self.broker = JobBroker(
            url=settings.database_url,
            results=False,
            heartbeat_interval=heartbeat_interval,
            heartbeat_ttl=heartbeat_ttl,
            maintenance_interval=maintenance_interval,
            poll_interval=poll_interval,
        )
        self.broker.add_middleware(CurrentMessage())
        limit = self.default_time_limit if time_limit is None else time_limit
        self.actor: dramatiq.Actor[..., None] = dramatiq.actor(
            broker=self.broker,
            actor_name=self.actor_name,
            queue_name=self.queue_name,
            max_retries=max_retries,
            time_limit=int(limit * 1000),
            min_backoff=int(min_backoff * 1000),
            max_backoff=int(max_backoff * 1000),
        )(self._run)
        self._worker: dramatiq.Worker | None = None

    def message_id(self, key: str) -> str:
        """The id of the job for `key`: the same key always names the same job."""
        return str(uuid.uuid5(self.message_namespace, key))

    def enqueue_job(self, key: str, *args: str) -> None:
        """Queue the job `key` with `args`; queueing it again while it waits or runs is a no-op."""
        message = self.actor.message_with_options(args=args)
        self.broker.enqueue(message.copy(message_id=self.message_id(key)))

    @abc.abstractmethod
    def perform(self, *args: str, last: bool) -> None:
        """Do the job (blocking, in a worker thread); `last` is true on the final attempt."""

    def _run(self, *args: str) -> None:
        current = CurrentMessage.get_current_message()
        retries = current.options.get("retries", 0) if current is not None else 0
        self.perform(*args, last=retries >= self.max_retries)

    def start_worker(self) -> None:
        """Start consuming jobs in this process's worker threads."""
        if self._worker is None:
            self._worker = dramatiq.Worker(
                self.broker, queues={self.queue_name}, worker_threads=self._worker_threads
            )
            # Claim no more jobs than there are threads, so idle replicas get the rest.
            self._worker.queue_prefetch = self._worker_threads
            self._worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker (unfinished jobs go back to the queue or to another worker)."""
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout * 1000))
            self._worker = None
        self.broker.close()
