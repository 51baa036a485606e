"""What every benchmark needs: real servers, a fresh database, and a way to report figures."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.embedded import EmbeddedServers, ServerAddresses
from shared.settings import Settings


@dataclass
class Figure:
    """One measured figure, compared with the ceiling measured in the same run."""

    name: str
    value: float
    unit: str
    ceiling: float | None = None
    target: str = ""
    meets: bool | None = None

    def line(self) -> str:
        ratio = f"ratio {self.value / self.ceiling:5.2f}" if self.ceiling else ""
        verdict = {True: "meets target", False: "BELOW TARGET", None: ""}[self.meets]
        figure = f"{self.value:>12,.1f} {self.unit:<8}"
        return f"{self.name:<58} {figure} {ratio:<12} {self.target:<20} {verdict}"


def report(figure: Figure) -> Figure:
    print(figure.line(), flush=True)
    return figure


@contextlib.contextmanager
def servers() -> Iterator[ServerAddresses]:
    """The VIGIL_* servers if set, else embedded ones in a temporary folder."""
    nats_url, database_url = os.environ.get("VIGIL_NATS_URL"), os.environ.get("VIGIL_DATABASE_URL")
    if nats_url and database_url:
        yield ServerAddresses(nats_url=nats_url, database_url=database_url)
        return
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as folder:
        embedded = EmbeddedServers(Path(folder))
        try:
            yield embedded.start()
        finally:
            embedded.stop()


@contextlib.asynccontextmanager
async def fresh_settings(addresses: ServerAddresses) -> AsyncIterator[Settings]:
    """Settings on a database, stream and subject prefix of this benchmark's own."""
    name = f"vigil_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(addresses.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    tag = secrets.token_hex(3)
    try:
        yield Settings(
            nats_url=addresses.nats_url,
            database_url=addresses.database_url.rpartition("/")[0] + "/" + name,
            stream_name=f"BENCH_{tag}".upper(),
            subject_prefix=f"b{tag}.evt",
            log_level="warning",
        )
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
