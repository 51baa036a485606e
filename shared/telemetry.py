"""Logs, traces and metrics, configured the same way in every vigil process.

Logs are structlog: pretty in a terminal, JSON lines otherwise (or as
``VIGIL_LOG_FORMAT`` says). Traces are OpenTelemetry; the W3C traceparent of
the request that caused an event is stored in its metadata and carried in the
NATS headers, so one trace spans HTTP -> append -> relay -> consumer.
Metrics are Prometheus, served at ``/metrics`` by every service.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import structlog
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = ("configure_logging", "configure_tracing", "current_traceparent")


def configure_logging(settings: Settings) -> None:
    """Route structlog and the standard library's logging through one renderer."""
    pretty = settings.log_format == "console" or (
        settings.log_format == "auto" and sys.stderr.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer()
    )
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    shared_processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared_processors,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def configure_tracing(settings: Settings, service: str) -> TracerProvider:
    """Install the process-wide tracer provider for `service`.

    ``VIGIL_OTEL_EXPORTER=console`` prints spans; ``otlp`` sends them to the
    collector named by the standard ``OTEL_EXPORTER_OTLP_*`` variables (needs
    the ``opentelemetry-exporter-otlp`` package); ``none`` keeps them in-process.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": f"vigil-{service}"}))
    if settings.otel_exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif settings.otel_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, to store in an event's metadata."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")
