"""NATS wiring shared by the services: the broker and the projection consumer.

Each service consumes the events stream through one durable pull consumer;
its replicas share that consumer, so JetStream hands each message to one of
them. The consumer does not trust message order: a message only wakes
`ProjectionRunner.on_event`, which reads the log itself.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsBroker
from faststream.nats.message import NatsMessage  # noqa: TC002 (FastStream reads handler annotations at runtime)
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from nats.js.api import ConsumerConfig, DeliverPolicy
from prometheus_client import REGISTRY

from shared.wire import context_of, position_of

if TYPE_CHECKING:
    from faststream.message import StreamMessage
    from opentelemetry.sdk.trace import TracerProvider

    from shared.projections import ProjectionRunner
    from shared.settings import Settings

__all__ = (
    "add_projection_consumer",
    "durable_subscriber",
    "make_broker",
    "raw_body",
    "workspace_of",
)


Handler = Callable[..., Awaitable[None]]
"""A FastStream handler: raw body in, nothing out."""


def make_broker(settings: Settings, service: str, tracer_provider: TracerProvider) -> NatsBroker:
    """A FastStream NATS broker with tracing and Prometheus middlewares.

    Its logs go through vigil's logging set-up; per-message logs are at debug level.
    """
    assert settings.nats_url, "the broker needs a NATS URL"
    return NatsBroker(
        settings.nats_url,
        name=f"vigil-{service}",
        logger=logging.getLogger(f"vigil.{service}.broker"),
        log_level=logging.DEBUG,
        middlewares=(
            NatsTelemetryMiddleware(tracer_provider=tracer_provider),
            NatsPrometheusMiddleware(registry=REGISTRY, app_name=f"vigil-{service}"),
        ),
    )


async def raw_body(message: StreamMessage[Any]) -> Any:
    """FastStream decoder that keeps relayed bodies as bytes (a list of them for a batch).

    Without it FastStream JSON-decodes every body that has no content type,
    and a ``bytes`` parameter then fails validation; consumers decode the
    envelope themselves with `shared.wire.decode_wire`.
    """
    return message.body


def workspace_of(subject: str, prefix: str) -> str:
    """The workspace token of an event subject ``<prefix>.<workspace>.<context>.<Type>``."""
    return subject.split(".")[prefix.count(".") + 1]


def _subject_for(runner: ProjectionRunner, prefix: str) -> str:
    """The narrowest subject covering every event type the runner's projections apply.

    Only a message of a handled type needs to wake the runner (it then reads
    the log itself), so a consumer need not see the others.
    """
    contexts = {
        context_of(type_name)
        for projection in runner.projections
        for type_name in projection.event_types
    }
    if len(contexts) == 1 and "unknown" not in contexts:
        return f"{prefix}.*.{contexts.pop()}.>"
    return f"{prefix}.>"


def durable_subscriber(
    broker: NatsBroker,
    settings: Settings,
    subject: str,
    durable: str,
    *,
    title: str,
    description: str,
    deliver_policy: DeliverPolicy = DeliverPolicy.ALL,
    max_workers: int = 1,
) -> Callable[[Handler], Handler]:
    """Decorator: a durable JetStream consumer of `subject` shared by a service's replicas.

    A push consumer with a deliver group: the server hands each message to one
    replica as soon as it is stored, with no fetch loop to time out (FastStream's
    pull loop loses its fetched messages to the ack deadline when nats-py raises
    the built-in TimeoutError). Unacknowledged messages come back after `ack_wait`.
    The handler receives the raw body and may take the message as a second parameter.
    `deliver_policy` applies only when the consumer is first created; afterwards it
    resumes where its replicas left off. With `max_workers` above 1 a replica
    handles that many messages at once, for handlers whose work on one message
    does not depend on the one before.
    """
    return broker.subscriber(
        subject,
        stream=JStream(settings.stream_name, declare=False),
        queue=durable,  # the deliver group names the durable consumer too
        deliver_policy=deliver_policy,
        # A fixed deliver subject makes every replica ask for the same consumer, so
        # replicas starting together do not race to create it ("name already in use").
        config=ConsumerConfig(deliver_subject=f"_vigil.deliver.{settings.stream_name}.{durable}"),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
        max_workers=max_workers,
        title=title,
        description=description,
    )


def add_projection_consumer(
    broker: NatsBroker, settings: Settings, runner: ProjectionRunner, durable: str
) -> None:
    """Subscribe `runner` to the events stream under the durable consumer `durable`."""

    @durable_subscriber(
        broker,
        settings,
        _subject_for(runner, settings.subject_prefix),
        durable,
        title=f"{durable} projections",
        description="Applies events to this service's read models.",
    )
    async def project(body: bytes, message: Annotated[NatsMessage, Context("message")]) -> None:
        raw = message.raw_message
        await runner.on_event(
            workspace_of(raw.subject, settings.subject_prefix), position_of(raw.headers)
        )
