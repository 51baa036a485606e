"""One trace from the writer's span, through the relay's NATS headers, to the consumer.

A consumer's span is a child of the writer's span; a batch consumer's span
would link to it instead (OpenTelemetry's messaging conventions), so either counts.
"""

from __future__ import annotations

import asyncio
import time

from faststream.nats import JStream
from nats.js.api import DeliverPolicy
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.bus import raw_body
from shared.contracts import EventMetadata
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from shared.telemetry import current_traceparent
from shared.wire import decode_wire
from tests.support.events import notes


async def test_the_consumer_span_continues_the_trace_of_the_append(
    settings: Settings, workspace_id: str
) -> None:
    exporter = InMemorySpanExporter()
    received: list[int] = []

    async def setup(runtime: Runtime) -> None:
        runtime.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))

        # Only new messages: the session's stream holds every earlier test's events.
        @runtime.broker.subscriber(
            f"{settings.subject_prefix}.{workspace_id}.>",
            stream=JStream(settings.stream_name, declare=False),
            deliver_policy=DeliverPolicy.NEW,
            decoder=raw_body,
        )
        async def consume(body: bytes) -> None:
            received.append(decode_wire(body).position)

    async with open_runtime(settings, "tracing", setup=setup, configure_logs=False) as runtime:
        tracer = runtime.tracer_provider.get_tracer("test")
        with tracer.start_as_current_span("request") as request:
            traceparent = current_traceparent()
            [event] = await runtime.store.append_to_stream(
                f"n-{workspace_id}",
                workspace_id,
                notes(1),
                metadata=EventMetadata(traceparent=traceparent),
            )
        trace_id = request.get_span_context().trace_id
        deadline = time.monotonic() + 60
        while not [
            s
            for s in exporter.get_finished_spans()
            if s.kind is trace.SpanKind.CONSUMER
            and trace_id in {s.context.trace_id, *(link.context.trace_id for link in s.links)}
        ]:
            assert time.monotonic() < deadline, [
                (s.name, s.kind, s.context.trace_id) for s in exporter.get_finished_spans()
            ]
            await asyncio.sleep(0.05)

    assert traceparent is not None
    assert f"{trace_id:032x}" in traceparent
    assert event.metadata.traceparent == traceparent
    assert event.position in received
