"""Composition root of the triggers service: event consumer, scheduler and action runner."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING

import httpx

from services.triggers.actions import ActionRunner
from services.triggers.handlers import add_event_consumer
from services.triggers.matcher import EventMatcher
from services.triggers.projections import trigger_projections
from services.triggers.scheduler import Scheduler
from shared.database import connect_pool
from shared.http import service_app
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime
from shared.triggers.targets import AddressPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("ACTION_CONCURRENCY", "TriggersService", "create_app", "triggers_runtime")

SERVICE = "triggers"
ACTION_CONCURRENCY = 16
"""Actions one replica runs at once; each holds a connection of the actions pool."""


@dataclasses.dataclass(kw_only=True)
class TriggersService:
    """One running replica: its runtime and the parts tests and benchmarks poke at."""

    runtime: Runtime
    actions: ActionRunner
    scheduler: Scheduler
    matcher: EventMatcher


@contextlib.asynccontextmanager
async def triggers_runtime(
    settings: Settings, *, poll: float = 0.2, configure_logs: bool = True
) -> AsyncIterator[TriggersService]:
    """Run one replica of the triggers service until the block exits.

    On start it retries firings a crash left pending; on exit it stops the
    scheduler, drains the consumer and cancels running actions (their
    firings stay pending and run again on the next start of any replica).
    """
    parts: dict[str, object] = {}
    closers: list[contextlib.AsyncExitStack] = []

    async def setup(runtime: Runtime) -> None:
        assert runtime.settings.database_url
        stack = contextlib.AsyncExitStack()
        closers.append(stack)
        action_pool = await connect_pool(
            runtime.settings.database_url, max_size=ACTION_CONCURRENCY + 2
        )
        stack.push_async_callback(action_pool.close)
        http = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        stack.push_async_callback(http.aclose)

        async def publish(subject: str, body: bytes, headers: dict[str, str]) -> None:
            connection = runtime.broker.config.connection_state.connection
            await connection.publish(subject, body, headers=headers)
            await connection.flush()

        actions = ActionRunner(
            pool=action_pool,
            store=runtime.store,
            http=http,
            publish=publish,
            policy=AddressPolicy.from_env(),
            concurrency=ACTION_CONCURRENCY,
        )
        runner = ProjectionRunner(runtime.pool, trigger_projections())
        matcher = EventMatcher(runtime.pool, runtime.store, runner, actions)
        add_event_consumer(runtime.broker, runtime.settings, matcher)
        parts.update(actions=actions, matcher=matcher)

    try:
        async with open_runtime(
            settings,
            SERVICE,
            migrations=(SERVICE, "services.triggers"),
            setup=setup,
            configure_logs=configure_logs,
        ) as runtime:
            actions = parts["actions"]
            matcher = parts["matcher"]
            assert isinstance(actions, ActionRunner)
            assert isinstance(matcher, EventMatcher)
            scheduler = Scheduler(runtime.pool, runtime.store, actions, poll=poll)
            stop = asyncio.Event()
            task = asyncio.create_task(scheduler.run(stop), name="trigger-scheduler")
            try:
                yield TriggersService(
                    runtime=runtime, actions=actions, scheduler=scheduler, matcher=matcher
                )
            finally:
                stop.set()
                await task
                await actions.close()
    finally:
        for stack in closers:
            await stack.aclose()


def create_app(settings: Settings) -> Litestar:
    """The triggers service: health, readiness and metrics over HTTP; the work happens behind."""

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Runtime]:
        async with triggers_runtime(settings) as service:
            yield service.runtime

    return service_app(SERVICE, runtime)
