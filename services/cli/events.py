"""`vigil events ...`: follow, show, export and import the event log."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import asyncpg
import click
import msgspec

from services.api.filters import TypeFilter
from services.cli._servers import find_servers, load_settings, redact
from shared.contracts.base import UnknownEventType
from shared.database import connect_pool
from shared.eventstore import NOTIFY_CHANNEL, EventStore, ImportConflict
from shared.wire import WireEvent

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ("events",)

T = TypeVar("T")
_encode = msgspec.json.Encoder().encode
_decode_line = msgspec.json.Decoder(WireEvent).decode
_PAGE = 1000
_IMPORT_BATCH = 2000
F = TypeVar("F", bound="Callable[..., Any]")


def _state_dir(command: F) -> F:
    option = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where `vigil up` keeps its state. Default: VIGIL_STATE_DIR or .vigil",
    )
    return option(command)


def _run(state_dir: Path | None, work: Callable[[_Log], Awaitable[T]]) -> T:
    """Run `work` with an event store on the configured database; errors become messages."""
    settings = find_servers(load_settings(state_dir))
    dsn = settings.database_url
    assert dsn

    async def main() -> T:
        pool = await connect_pool(dsn, min_size=1, max_size=2)
        try:
            return await work(_Log(pool, dsn))
        finally:
            await pool.close()

    try:
        return asyncio.run(main())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise click.ClickException(f"PostgreSQL at {redact(dsn)} failed: {error}") from None


class _Log:
    """What a command works with: the store, its pool and the database URL."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self.pool = pool
        self.store = EventStore(pool)
        self.dsn = dsn


def _line(event: WireEvent) -> str:
    at = event.recorded_at.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{event.position:>9}  {at}  {event.workspace_id}  {event.type}"
        f"  {event.stream_id}@{event.stream_version}"
    )


@click.group()
def events() -> None:
    """Follow, show, export and import the event log."""


@events.command()
@click.option("--workspace", "workspace_id", help="Only this workspace's events.")
@click.option("--type", "types", help="Comma-separated event types; 'Finding*' patterns.")
@click.option(
    "--after",
    type=click.IntRange(min=0),
    help="Start after this position (0: the whole log). Default: only events from now on.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@_state_dir
def tail(
    workspace_id: str | None,
    types: str | None,
    after: int | None,
    as_json: bool,
    count: int | None,
    state_dir: Path | None,
) -> None:
    """Follow the log live, until Ctrl-C (or --count events).

    \b
    Examples:
      vigil events tail
      vigil events tail --workspace acme --type 'Finding*' --after 0
      vigil events tail --json --count 10 > ten.jsonl
    """  # noqa: D301 (click needs a real \b before literal blocks)
    names = TypeFilter.parse(types).type_names()
    out = sys.stdout

    async def follow(log: _Log) -> None:
        store = log.store
        position = after if after is not None else await store.head_position()
        wake = asyncio.Event()
        listener = await asyncpg.connect(log.dsn)
        await listener.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
        shown, delay = 0, 0.1
        try:
            while count is None or shown < count:
                wake.clear()
                page = await store.read_wire(
                    after=position, limit=_PAGE, workspace_id=workspace_id, types=names
                )
                for event in page[: None if count is None else count - shown]:
                    out.write((_encode(event).decode() if as_json else _line(event)) + "\n")
                    shown += 1
                out.flush()
                if page:
                    position, delay = page[-1].position, 0.1
                    continue
                # NOTIFY wakes us at once; the timeout is a fallback poll with back-off.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), delay)
                delay = min(delay * 2, 2.0)
        finally:
            await listener.close()

    if names == []:
        raise click.BadParameter(f"no known event type matches {types!r}", param_hint="--type")
    with contextlib.suppress(KeyboardInterrupt):
        _run(state_dir, follow)


@events.command()
@click.argument("event")
@_state_dir
def show(event: str, state_dir: Path | None) -> None:
    """Show one EVENT (its id, or its position) as JSON.

    \b
    Examples:
      vigil events show 42
      vigil events show 0193a0c4-8d1e-7c3a-9f10-2b7d5e1c4a00
    """  # noqa: D301 (click needs a real \b before literal blocks)

    async def find(log: _Log) -> WireEvent | None:
        store = log.store
        if event.isdigit():
            found = await store.read_wire(after=int(event) - 1, limit=1, up_to=int(event))
            return found[0] if found else None
        try:
            event_id = uuid.UUID(event)
        except ValueError:
            raise click.BadParameter("give an event id (a UUID) or a position") from None
        return await store.get_wire(event_id)

    found = _run(state_dir, find)
    if found is None:
        raise click.ClickException(f"There is no event {event} in the log.")
    click.echo(msgspec.json.format(_encode(found), indent=2).decode())


@events.command()
@click.option("--workspace", "workspace_id", required=True, help="The workspace to export.")
@click.option("--after", type=click.IntRange(min=0), default=0, help="Only events after this.")
@_state_dir
def export(workspace_id: str, after: int, state_dir: Path | None) -> None:
    """Write a workspace's history to stdout, one JSON event per line, in log order.

    Event ids, stream versions, data, metadata and recording times are kept,
    so `vigil events import` rebuilds the same history on another
    installation.

    \b
    Example:
      vigil events export --workspace acme > acme.jsonl
    """  # noqa: D301 (click needs a real \b before literal blocks)
    out = sys.stdout.buffer

    async def write(log: _Log) -> int:
        store = log.store
        head, position, written = await store.head_position(), after, 0
        while page := await store.read_wire(
            after=position, limit=_PAGE * 5, workspace_id=workspace_id, up_to=head
        ):
            out.write(b"".join(_encode(event) + b"\n" for event in page))
            written += len(page)
            position = page[-1].position
        out.flush()
        return written

    written = _run(state_dir, write)
    click.echo(f"exported {written} event(s) of workspace {workspace_id}", err=True)


def _read_lines(source: IO[bytes]) -> Any:
    for number, raw in enumerate(source, start=1):
        if raw.strip():
            try:
                yield _decode_line(raw)
            except msgspec.DecodeError as error:
                raise click.ClickException(
                    f"line {number} is not an exported event: {error}; nothing was imported"
                ) from None


@events.command("import")
@click.argument("file", type=click.File("rb"))
@_state_dir
def import_(file: IO[bytes], state_dir: Path | None) -> None:
    """Append the events of an exported FILE ('-' for stdin), all or nothing.

    Ids, stream versions, order, data and metadata are kept; events the log
    already holds are skipped, so importing the same file again is a no-op.
    Other writers wait while an import runs.

    \b
    Examples:
      vigil events import acme.jsonl
      ssh old-host vigil events export --workspace acme | vigil events import -
    """  # noqa: D301 (click needs a real \b before literal blocks)

    async def load(log: _Log) -> tuple[int, int]:
        store, imported, skipped = log.store, 0, 0
        async with log.pool.acquire() as conn, conn.transaction():
            batch: list[WireEvent] = []
            for event in _read_lines(file):
                batch.append(event)
                if len(batch) == _IMPORT_BATCH:
                    done = await store.import_events(batch, conn=conn)
                    imported, skipped, batch = imported + done[0], skipped + done[1], []
            done = await store.import_events(batch, conn=conn)
        return imported + done[0], skipped + done[1]

    try:
        imported, skipped = _run(state_dir, load)
    except (ImportConflict, UnknownEventType, msgspec.ValidationError) as error:
        raise click.ClickException(f"{error}; nothing was imported") from None
    click.echo(f"imported {imported} event(s), skipped {skipped} already present")
    sys.stdout.flush()
