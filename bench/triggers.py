"""(t) Triggers: condition evaluation through 100 event triggers; event-to-webhook latency."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import secrets
import statistics
import time
import uuid

import msgspec

from bench.harness import Figure, report
from services.triggers.app import triggers_runtime
from services.triggers.domain import EventTrigger
from services.triggers.matcher import EventMatcher
from shared.contracts import (
    FindingDetails,
    FindingDetected,
    TriggerCreated,
    TriggerDefinition,
    finding_stream,
    trigger_stream,
)
from shared.contracts.trigger import WebhookAction
from shared.settings import Settings
from shared.wire import WireEvent

TRIGGERS = 100
EVALUATED = 20_000
RATE = 200
SECONDS = 10
SEVERITIES = ("info", "low", "medium", "high", "critical")
_encode = msgspec.json.Encoder().encode


def _detected(workspace: str, i: int) -> FindingDetected:
    return FindingDetected(
        workspace_id=workspace,
        fingerprint=f"{i:016x}",
        asset_id=f"asset-{i % 50}",
        asset_kind="host",
        asset_key=f"10.0.{i % 50}.1",
        scanner="bench",
        scan_id="scan-1",
        scan_sha256="0" * 64,
        first_seen=dt.datetime.now(dt.UTC),
        port=[22, 80, 443, 8443][i % 4],
        details=FindingDetails(
            title=f"issue {i}", severity=SEVERITIES[i % 5], cvss_score=float(i % 11)
        ),
    )


def _wire(event: FindingDetected, position: int) -> WireEvent:
    return WireEvent(
        position=position,
        event_id=uuid.uuid4(),
        stream_id=finding_stream(event.fingerprint),
        stream_version=1,
        workspace_id=event.workspace_id,
        type="FindingDetected",
        schema_version=1,
        data=msgspec.Raw(_encode(event)),
        metadata=msgspec.Raw(b"{}"),
        recorded_at=dt.datetime.now(dt.UTC),
    )


def _hook(url: str) -> WebhookAction:
    return WebhookAction(url=url, secret="bench-secret-0123456789", timeout_seconds=5.0)


def _evaluation_throughput() -> Figure:
    conditions = [
        'severity == "critical" and cvss >= {n}',
        "port == {p} and severity == 'high' and cvss > 9",
        '(severity == "medium" or cvss > 9) and asset_key == "10.0.{n}.1"',
        'severity in ["high", "critical"] and title contains "issue 1{n}7"',
    ]
    triggers = [
        EventTrigger(
            f"t{i}",
            "bench",
            TriggerDefinition(
                name=f"t{i}",
                kind="event",
                event_types=("Finding*",),
                condition=conditions[i % 4].format(n=i % 10, p=[22, 80, 443, 8443][i % 4]),
                action=_hook("https://bench.example"),
            ),
            1,
            0,
        )
        for i in range(TRIGGERS)
    ]
    wires = [_wire(_detected("bench", i), i + 1) for i in range(EVALUATED)]
    started = time.perf_counter()
    fired = 0
    for start in range(0, EVALUATED, 500):
        fired += len(EventMatcher.evaluate(triggers, wires[start : start + 500]))
    rate = EVALUATED / (time.perf_counter() - started)
    return Figure(
        f"condition evaluation, {TRIGGERS} event triggers ({fired} matches)",
        rate,
        "events/s",
        target=">= 1,000 events/s",
        meets=rate >= 1000,
    )


class _Receiver:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = json.loads(await reader.readexactly(length))
            self.received[body["event"]["data"]["fingerprint"]] = time.perf_counter()
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()


async def _latency(settings: Settings) -> Figure:
    receiver = _Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    workspace = f"bench-{secrets.token_hex(3)}"
    sent: dict[str, float] = {}
    async with triggers_runtime(settings, poll=0.2, configure_logs=False) as service:
        store = service.runtime.store
        trigger_id = str(uuid.uuid4())
        definition = TriggerDefinition(
            name="bench hook",
            kind="event",
            event_types=("FindingDetected",),
            condition='severity in ["low", "medium", "high", "critical"] or cvss >= 0',
            action=_hook(f"http://127.0.0.1:{port}/hook"),
        )
        await store.append_to_stream(
            trigger_stream(trigger_id),
            workspace,
            [TriggerCreated(workspace_id=workspace, trigger_id=trigger_id, definition=definition)],
        )
        total = RATE * SECONDS
        started = time.perf_counter()
        for i in range(total):
            event = _detected(workspace, i)
            await asyncio.sleep(max(0.0, started + i / RATE - time.perf_counter()))
            sent[event.fingerprint] = time.perf_counter()
            await store.append_to_stream(finding_stream(event.fingerprint), workspace, [event])
        deadline = time.monotonic() + 60
        while len(receiver.received) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    server.close()
    latencies = sorted((receiver.received[k] - sent[k]) * 1000 for k in receiver.received)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else float("nan")
    return Figure(
        f"event-to-webhook latency p99 at {RATE} events/s"
        f" (p50 {statistics.median(latencies):.0f} ms, {len(latencies)}/{total} delivered)",
        p99,
        "ms",
        target="<= 500 ms",
        meets=p99 <= 500 and len(latencies) == total,
    )


async def run(settings: Settings) -> list[Figure]:
    return [report(_evaluation_throughput()), report(await _latency(settings))]
