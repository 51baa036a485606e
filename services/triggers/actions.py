"""Running a claimed firing's action and recording its outcome exactly once.

The runner works on firings whose `TriggerFired` is committed. For each it
holds a PostgreSQL session advisory lock keyed by the firing id while the
action runs, so at most one process runs a firing at a time, and the server
frees the lock the moment a crashed holder's connection dies. Under the lock
it re-reads the firing's stream: one with an outcome already (version 2) is
done. The outcome is appended with ``expected_version=1``, so a firing gets
one outcome. Firings left pending by a crash are found by `sweep` (on start
and periodically) and run again.

Internal actions (report request, finding status) append their event in the
same transaction as the outcome: exactly once. A webhook or NATS publish is
an external effect: a crash after it is sent and before the outcome is
recorded sends it again (at least once), with the same ``X-Vigil-Event-Id``
/ ``Nats-Msg-Id`` so that the receiver can drop the copy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from prometheus_client import Counter

from services.triggers.domain import firing_payload
from services.triggers.webhooks import deliver
from shared.contracts import (
    ANALYST_STATUSES,
    ActionFailed,
    ActionSucceeded,
    EventMetadata,
    FindingClosed,
    FindingDetected,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    ReportRequested,
    TriggerFired,
    finding_stream,
    firing_stream,
    report_stream,
    trigger_stream,
)
from shared.contracts.trigger import (
    FindingStatusAction,
    PublishAction,
    ReportAction,
    WebhookAction,
)
from shared.eventstore import ConcurrencyError, StreamWrite
from shared.triggers.definitions import fold

if TYPE_CHECKING:
    import asyncpg
    import httpx

    from shared.contracts import Event, RecordedEvent
    from shared.eventstore import EventStore
    from shared.triggers.definitions import TriggerState
    from shared.triggers.targets import AddressPolicy

__all__ = ("ActionRunner", "Publisher")

Publisher = Callable[[str, bytes, dict[str, str]], Awaitable[None]]
"""Publishes a NATS message: (subject, body, headers)."""

_log = structlog.get_logger("vigil.triggers")
_outcomes = Counter("vigil_trigger_actions", "Trigger action outcomes", ["action", "outcome"])
_encode = msgspec.json.Encoder().encode
_METADATA = EventMetadata(actor="service:triggers")
_STATUS_CHANGES = 3


def _lock_key(firing_id: uuid.UUID) -> int:
    return int.from_bytes(firing_id.bytes[:8], "big", signed=True)


class _Outcome(msgspec.Struct, frozen=True):
    ok: bool
    attempts: int
    text: str
    extra: tuple[StreamWrite, ...] = ()


class ActionRunner:
    """Runs firings' actions, at most `concurrency` at a time in this process."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        store: EventStore,
        http: httpx.AsyncClient,
        publish: Publisher,
        policy: AddressPolicy,
        concurrency: int = 16,
    ) -> None:
        """`pool` is the runner's own: each running action holds one of its connections."""
        self._pool = pool
        self._store = store
        self._http = http
        self._publish = publish
        self._policy = policy
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}

    def submit(self, firing_id: uuid.UUID) -> None:
        """Run a claimed firing's action in the background (no-op if it already runs here)."""
        if firing_id in self._running:
            return
        task = asyncio.create_task(self._guarded(firing_id), name=f"firing-{firing_id}")
        self._running[firing_id] = task
        task.add_done_callback(lambda _: self._running.pop(firing_id, None))

    async def sweep(self, older_than: dt.timedelta = dt.timedelta(seconds=2)) -> int:
        """Submit every pending firing older than `older_than` (those a crash left behind)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT firing_id FROM triggers_firings WHERE status = 'pending'"
                " AND fired_at < now() - $1::interval ORDER BY fired_at LIMIT 1000",
                older_than,
            )
        for row in rows:
            self.submit(row["firing_id"])
        return len(rows)

    async def drain(self) -> None:
        """Wait for the actions running now to finish."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def close(self) -> None:
        """Cancel running actions (their firings stay pending and are run again later)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _guarded(self, firing_id: uuid.UUID) -> None:
        try:
            async with self._slots:
                await self.run(firing_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("trigger action crashed; the firing stays pending", firing=firing_id)

    async def run(self, firing_id: uuid.UUID) -> bool:
        """Run one firing's action and record the outcome; False if someone else has it."""
        async with self._pool.acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(firing_id)):
                return False
            try:
                events = await self._store.read_stream(firing_stream(firing_id))
                if len(events) != 1 or not isinstance(events[0].data, TriggerFired):
                    return False
                await self._perform(events[0], events[0].data)
                return True
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _lock_key(firing_id))

    async def _perform(self, recorded: RecordedEvent, fired: TriggerFired) -> None:
        history = await self._store.read_stream(trigger_stream(fired.trigger_id))
        trigger = fold(e for e in history if e.stream_version <= fired.trigger_version)
        if trigger is None:
            outcome = _Outcome(False, 0, "the trigger's definition is missing from the log")
            await self._record(fired, "unknown", outcome)
            return
        action = trigger.definition.action
        kind = str(action.__struct_config__.tag)
        match action:
            case WebhookAction() as hook:
                body = await self._body(recorded, fired, trigger)
                result = await deliver(
                    self._http, hook, body, event_id=recorded.event_id, policy=self._policy
                )
                outcome = _Outcome(result.ok, result.attempts, result.text)
            case PublishAction(subject=subject):
                outcome = await self._publish_firing(subject, recorded, fired, trigger)
            case ReportAction() as report:
                outcome = await self._request_report(fired, report)
            case FindingStatusAction() as change:
                await self._change_status(fired, trigger, change)
                return
        try:
            await self._record(fired, kind, outcome)
        except ConcurrencyError:
            _log.warning("a firing's outcome was recorded twice", firing=str(fired.firing_id))

    async def _body(
        self, recorded: RecordedEvent, fired: TriggerFired, trigger: TriggerState
    ) -> bytes:
        source = None
        if fired.source_event_id is not None:
            event = await self._store.get_event(fired.source_event_id)
            if event is not None:
                source = {
                    "event_id": str(event.event_id),
                    "type": event.type,
                    "position": event.position,
                    "stream_id": event.stream_id,
                    "workspace_id": event.workspace_id,
                    "recorded_at": event.recorded_at.isoformat(),
                    "data": msgspec.to_builtins(event.data),
                }
        payload = firing_payload(
            fired, event_id=recorded.event_id, trigger_name=trigger.definition.name, source=source
        )
        return _encode(payload)

    async def _publish_firing(
        self, subject: str, recorded: RecordedEvent, fired: TriggerFired, trigger: TriggerState
    ) -> _Outcome:
        body = await self._body(recorded, fired, trigger)
        try:
            await self._publish(subject, body, {"Nats-Msg-Id": str(recorded.event_id)})
        except Exception as error:  # the NATS client raises several unrelated types
            return _Outcome(False, 1, f"publishing on {subject} failed: {error}")
        return _Outcome(True, 1, f"published on {subject}")

    async def _request_report(self, fired: TriggerFired, report: ReportAction) -> _Outcome:
        report_id = str(uuid.uuid5(fired.firing_id, "report"))
        head = await self._store.head_position()
        requested = ReportRequested(
            report_id=report_id,
            workspace_id=fired.workspace_id,
            format=report.format,
            template=report.template,
            position=head,
            filters=report.filters,
        )
        write = StreamWrite(
            stream_id=report_stream(report_id),
            workspace_id=fired.workspace_id,
            events=[requested],
            expected_version=0,
        )
        return _Outcome(True, 1, f"report {report_id} requested", (write,))

    async def _change_status(
        self, fired: TriggerFired, trigger: TriggerState, change: FindingStatusAction
    ) -> None:
        kind = "finding_status"
        source = (
            await self._store.get_event(fired.source_event_id) if fired.source_event_id else None
        )
        fingerprint = getattr(source.data, "fingerprint", None) if source else None
        if not isinstance(fingerprint, str):
            await self._record(fired, kind, _Outcome(False, 1, "the event names no finding"))
            return
        for attempt in range(1, _STATUS_CHANGES + 1):
            outcome = await self._status_outcome(fired, trigger, change, fingerprint, attempt)
            try:
                await self._record(fired, kind, outcome)
                return
            except ConcurrencyError as error:
                if error.stream_id == firing_stream(fired.firing_id):
                    return
        await self._record(
            fired, kind, _Outcome(False, _STATUS_CHANGES, "the finding kept changing; gave up")
        )

    async def _status_outcome(
        self,
        fired: TriggerFired,
        trigger: TriggerState,
        change: FindingStatusAction,
        fingerprint: str,
        attempt: int,
    ) -> _Outcome:
        stream = finding_stream(fingerprint)
        history = await self._store.read_stream(stream)
        status = _finding_status(e.data for e in history)
        wanted = FindingStatus(change.status)
        if status is None:
            return _Outcome(False, attempt, f"finding {fingerprint} does not exist")
        if wanted not in ANALYST_STATUSES:
            return _Outcome(False, attempt, f"{wanted} is set by scans, not by triggers")
        if status == wanted:
            return _Outcome(True, attempt, f"finding {fingerprint} is already {wanted}")
        event = FindingStatusChanged(
            workspace_id=fired.workspace_id,
            fingerprint=fingerprint,
            status=wanted,
            previous_status=status,
            changed_at=dt.datetime.now(dt.UTC),
            comment=change.comment or f"set by trigger {trigger.definition.name!r}",
            actor=f"trigger:{fired.trigger_id}",
        )
        write = StreamWrite(
            stream_id=stream,
            workspace_id=fired.workspace_id,
            events=[event],
            expected_version=history[-1].stream_version,
        )
        return _Outcome(True, attempt, f"finding {fingerprint}: {status} -> {wanted}", (write,))

    async def _record(self, fired: TriggerFired, kind: str, outcome: _Outcome) -> None:
        now = dt.datetime.now(dt.UTC)
        event: Event
        if outcome.ok:
            event = ActionSucceeded(
                workspace_id=fired.workspace_id,
                trigger_id=fired.trigger_id,
                firing_id=fired.firing_id,
                action_type=kind,
                attempts=outcome.attempts,
                completed_at=now,
                detail=outcome.text,
            )
        else:
            event = ActionFailed(
                workspace_id=fired.workspace_id,
                trigger_id=fired.trigger_id,
                firing_id=fired.firing_id,
                action_type=kind,
                attempts=outcome.attempts,
                reason=outcome.text,
                failed_at=now,
            )
        own = StreamWrite(
            stream_id=firing_stream(fired.firing_id),
            workspace_id=fired.workspace_id,
            events=[event],
            expected_version=1,
        )
        await self._store.append([own, *outcome.extra], metadata=_METADATA)
        _outcomes.labels(kind, "succeeded" if outcome.ok else "failed").inc()
        if not outcome.ok:
            _log.warning("trigger action failed", firing=str(fired.firing_id), reason=outcome.text)


def _finding_status(events: Any) -> FindingStatus | None:
    status: FindingStatus | None = None
    for event in events:
        match event:
            case FindingDetected():
                status = FindingStatus.OPEN
            case FindingClosed():
                status = FindingStatus.FIXED
            case FindingReopened():
                status = FindingStatus.REOPENED
            case FindingStatusChanged(status=changed):
                status = changed
    return status
