"""The triggers service's consumer: every relayed event, matched against event triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faststream import AckPolicy
from faststream.nats import JStream, PullSub

from shared.bus import raw_body

if TYPE_CHECKING:
    from faststream.nats import NatsBroker

    from services.triggers.matcher import EventMatcher
    from shared.settings import Settings

__all__ = ("EVENTS_DURABLE", "add_event_consumer")

EVENTS_DURABLE = "triggers"


def add_event_consumer(broker: NatsBroker, settings: Settings, matcher: EventMatcher) -> None:
    """Match every event under the durable consumer ``triggers``, shared by all replicas.

    A message is acknowledged once its firings are committed; a redelivered
    one claims nothing twice (see `services.triggers.claims`).
    """

    @broker.subscriber(
        f"{settings.subject_prefix}.>",
        stream=JStream(settings.stream_name, declare=False),
        durable=EVENTS_DURABLE,
        # Not batch=True: FastStream's batch pull loop drops a partly fetched batch when
        # nats-py raises the builtin TimeoutError (it catches only nats.errors.TimeoutError),
        # and those messages then wait for the ack deadline. Each fetched message is
        # handled on its own (concurrently, up to the fetch size) and acked after its claims.
        pull_sub=PullSub(batch_size=32, timeout=0.05),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
        title="triggers events",
        description="Matches events against event triggers and keeps the triggers read models.",
    )
    async def match_events(body: bytes) -> None:
        await matcher.handle([body])
