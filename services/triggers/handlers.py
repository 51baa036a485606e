"""The triggers service's consumer: every relayed event, matched against event triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nats.js.api import DeliverPolicy

from shared.bus import durable_subscriber

if TYPE_CHECKING:
    from faststream.nats import NatsBroker

    from services.triggers.matcher import EventMatcher
    from shared.settings import Settings

__all__ = ("EVENTS_DURABLE", "add_event_consumer")

EVENTS_DURABLE = "triggers"
EVENT_WORKERS = 8


def add_event_consumer(broker: NatsBroker, settings: Settings, matcher: EventMatcher) -> None:
    """Match every event under the durable consumer ``triggers``, shared by all replicas.

    A message is acknowledged once its firings are committed; a redelivered
    one claims nothing twice (see `services.triggers.claims`).
    """

    @durable_subscriber(
        broker,
        settings,
        f"{settings.subject_prefix}.>",
        EVENTS_DURABLE,
        title="triggers events",
        description="Matches events against event triggers and keeps the triggers read models.",
        # A trigger fires only for events recorded after it was defined, and the matcher
        # reads its read models from the log, so a new consumer need not replay history.
        deliver_policy=DeliverPolicy.NEW,
        # Events are matched independently (claims make each firing once), so a replica
        # works on several at a time instead of waiting on each one's round trips.
        max_workers=EVENT_WORKERS,
    )
    async def match_events(body: bytes) -> None:
        await matcher.handle([body])
