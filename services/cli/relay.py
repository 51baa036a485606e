"""`vigil relay ...`: repair what the relay publishes to JetStream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import click
import nats
import nats.errors
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from services.cli._servers import find_servers, load_settings, redact
from shared.database import init_connection
from shared.relay import republish as republish_log

__all__ = ("relay",)


@click.group()
def relay() -> None:
    """Repair the JetStream copy of the log (the relay keeps it up to date by itself)."""


@relay.command()
@click.option(
    "--from",
    "from_position",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="First log position to publish again.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Publish even the positions the stream already ends with (message ids still dedupe "
    "repeats within the stream's duplicate window).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state. Default: VIGIL_STATE_DIR or .vigil",
)
def republish(from_position: int, force: bool, state_dir: Path | None) -> None:
    """Publish the log again, from a position to the head, into the events stream.

    For a stream that was lost, purged or recreated: the stream is created if
    missing, and events it already ends with are skipped (unless --force), so
    running this twice publishes nothing twice. Consumers apply each event
    once whatever they receive.

    \b
    Examples:
      vigil relay republish                 # whatever the stream lacks at its end
      vigil relay republish --from 250000   # a recreated stream, recent history only
    """  # noqa: D301 (click needs a real \b before literal blocks)
    settings = find_servers(load_settings(state_dir))
    assert settings.database_url
    assert settings.nats_url
    dsn, nats_url = settings.database_url, settings.nats_url

    async def run(progress: Progress) -> tuple[int, int]:
        nc = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
        conn = await asyncpg.connect(dsn)
        try:
            await init_connection(conn)
            task = progress.add_task("republishing", total=None)
            return await republish_log(
                nc.jetstream(),
                settings,
                conn,
                from_position=from_position,
                skip_present=not force,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        finally:
            await conn.close()
            await nc.drain()

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            first, last = asyncio.run(run(progress))
    except (OSError, asyncpg.PostgresError) as error:
        raise click.ClickException(f"PostgreSQL at {redact(dsn)} failed: {error}") from None
    except nats.errors.Error as error:
        raise click.ClickException(f"NATS at {redact(nats_url)} failed: {error!r}") from None
    if not first:
        click.echo(f"nothing to publish: stream {settings.stream_name} already holds the log")
    else:
        click.echo(
            f"published positions {first}..{last} to stream {settings.stream_name}"
            f" ({last - first + 1} events)"
        )
