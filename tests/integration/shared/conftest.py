from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from shared.relay import ensure_stream
from shared.settings import Settings


@pytest.fixture
async def nc(settings: Settings) -> AsyncIterator[Client]:
    assert settings.nats_url
    client = await nats.connect(settings.nats_url)
    try:
        yield client
    finally:
        await client.drain()


@pytest.fixture
async def js(nc: Client, settings: Settings) -> JetStreamContext:
    context = nc.jetstream()
    await ensure_stream(context, settings)
    return context
