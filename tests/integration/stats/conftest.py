"""The stats service, the gateway and the ingest worker, all on the session's real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.stats.app import SERVICE, create_app
from shared.migrations import apply_migrations
from shared.settings import Settings
from tests.integration.api.conftest import (  # noqa: F401 (fixtures)
    admin_token,
    api,
    client,
    workspace,
)
from tests.integration.ingest.conftest import (  # noqa: F401 (fixtures)
    ingest_schema,
    objects,
    queue,
)
from tests.support.jetstream import wait_until_consumed


@pytest.fixture(scope="session")
async def stats_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "stats", "services.stats")


@pytest.fixture(scope="package")
async def stats_service(settings: Settings) -> AsyncIterator[None]:
    """One stats replica, consuming the events stream for the whole package.

    It starts on the events earlier tests of the session left in the stream;
    the tests wait for their own events only once it has worked through those.
    """
    async with AsyncTestClient(create_app(settings)) as http:
        assert (await http.get("/ready")).status_code == 200
        assert settings.nats_url
        await wait_until_consumed(settings.nats_url, settings.stream_name, SERVICE)
        yield
