"""One trace from the writer's span, through the relay's NATS headers, to the consumer.

A batch consumer's span links to the spans of the messages it processed
(OpenTelemetry's messaging conventions for batches), so the trace continues
through the link.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.bus import add_projection_consumer
from shared.contracts import EventMetadata
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from shared.telemetry import current_traceparent
from tests.support.events import NOTES_TABLE, NotesProjection, notes


async def test_the_consumer_span_continues_the_trace_of_the_append(
    settings: Settings, pool: asyncpg.Pool, workspace_id: str
) -> None:
    exporter = InMemorySpanExporter()
    runner = ProjectionRunner(pool, [NotesProjection()])

    async def setup(runtime: Runtime) -> None:
        runtime.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        async with runtime.pool.acquire() as conn:
            await conn.execute(NOTES_TABLE)
        add_projection_consumer(
            runtime.broker, runtime.settings, runner, durable=f"trace{secrets.token_hex(3)}"
        )

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
