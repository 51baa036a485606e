"""Real servers for the whole test session.

Without ``VIGIL_DATABASE_URL`` / ``VIGIL_NATS_URL`` the session starts its own
embedded PostgreSQL and nats-server in a temporary folder; with them, it uses
the servers they name. Either way each session works in a database of its
own and on a JetStream stream and subject prefix of its own, so runs never
see each other's data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.database import connect_pool
from shared.embedded import EmbeddedServers, ServerAddresses
from shared.eventstore import EventStore
from shared.settings import Settings


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerAddresses]:
    nats_url = os.environ.get("VIGIL_NATS_URL")
    database_url = os.environ.get("VIGIL_DATABASE_URL")
    if nats_url and database_url:
        yield ServerAddresses(nats_url=nats_url, database_url=database_url)
        return
    # Not under pytest's basetemp: pytest resets that folder to mode 0700 whenever a
    # session starts, which would lock out PostgreSQL's unprivileged user when we run as root.
    state = Path(tempfile.mkdtemp(prefix="vigil-test-"))
    embedded = EmbeddedServers(state)
    started = embedded.start()
    try:
        yield ServerAddresses(
            nats_url=nats_url or started.nats_url,
            database_url=database_url or started.database_url,
        )
    finally:
        embedded.stop()
        shutil.rmtree(state, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def database_url(servers: ServerAddresses) -> AsyncIterator[str]:
    """A fresh database for this session, dropped at its end."""
    name = f"vigil_test_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(servers.database_url, name)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def settings(
    servers: ServerAddresses, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings for in-process services: this session's database, stream and subjects."""
    tag = secrets.token_hex(3)
    return Settings(
        nats_url=servers.nats_url,
        database_url=database_url,
        state_dir=Path(tmp_path_factory.mktemp("state")),
        stream_name=f"EVENTS_T{tag}".upper(),
        subject_prefix=f"t{tag}.evt",
        log_format="console",
        log_level="warning",
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await connect_pool(database_url, max_size=20)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool)


@pytest.fixture
def workspace_id() -> str:
    """A workspace id no other test uses."""
    return f"ws-{secrets.token_hex(6)}"
