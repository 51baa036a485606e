"""An import's read-model writes, on a connection of their own, one chunk behind its appends.

Appending a chunk's events and applying them to the read models are the two
big pieces of an import's database work, and on one connection PostgreSQL
does them one after the other on one core. `ReadModelWriter` applies each
appended chunk on a second connection, in a transaction of its own, while
the import appends the next chunk.

The log stays the truth: the importer commits its events first and the
writer commits after. Should the writer's commit be lost (a crash between the
two), the read models lag behind the log until the projection consumer
catches them up, as it would after any crash; they never show what the log
does not hold. Since the importer decides on the committed read models, the
writer first brings them up to the head in transactions it commits, and the
importer holds the append lock meanwhile, so the head stays put.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import structlog

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from asyncpg.transaction import Transaction

    from shared.contracts import RecordedEvent
    from shared.database import Connection
    from shared.projections import ProjectionRunner

__all__ = ("ReadModelWriter",)

_log = structlog.get_logger("vigil.ingest")


class ReadModelWriter:
    """Applies an import's appended chunks to its runner's read models; use as a context manager.

    At most one chunk is being applied at a time; a failed one fails the next
    `apply`, `wait` or `commit` call. Leaving the context without `commit` rolls the
    writer's transaction back.
    """

    def __init__(self, runner: ProjectionRunner, conn: Connection, workspace_id: str) -> None:
        self._runner = runner
        self._conn = conn
        self._workspace_id = workspace_id
        self._transaction: Transaction | None = None
        self._applying: asyncio.Task[None] | None = None

    async def begin(self, head: int) -> None:
        """Bring the read models up to log position `head`, committed, then open the transaction.

        The caller holds the append lock, so `head` is still the head when it returns.
        """
        for projection in self._runner.projections:
            async with self._conn.transaction():
                await self._runner.catch_up_in(self._conn, self._workspace_id, head, projection)
        self._transaction = self._conn.transaction()
        await self._transaction.start()

    async def apply(self, events: Sequence[RecordedEvent]) -> None:
        """Have just-appended `events` applied once the chunk before them is (returns at once)."""
        await self.wait()
        assert self._transaction is not None, "begin() first"
        self._applying = asyncio.create_task(
            self._runner.apply_appended(self._conn, self._workspace_id, events)
        )

    async def wait(self) -> None:
        """Wait until every chunk so far is applied; a failure to apply one is raised here.

        The importer waits before it commits its events, so that they never
        commit when their read-model writes failed.
        """
        applying, self._applying = self._applying, None
        if applying is not None:
            await applying

    async def commit(self) -> None:
        """Commit the read-model writes, once the events they apply have committed."""
        await self.wait()
        assert self._transaction is not None, "begin() first"
        await self._transaction.commit()
        self._transaction = None

    async def __aenter__(self) -> ReadModelWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._applying is not None:
            self._applying.cancel()
            await asyncio.gather(self._applying, return_exceptions=True)
            self._applying = None
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        try:
            await transaction.rollback()
        except (asyncpg.PostgresError, asyncpg.InterfaceError):
            if exc is None:
                raise
            # The error that got us here matters; the pool discards a broken connection.
            _log.warning("read-model rollback failed", exc_info=True)
