"""`vigil status`: the servers, the supervised processes and the relay's lag, at a glance."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import click
import httpx
from rich.console import Console
from rich.table import Table

from services.cli._runfile import read_run_record
from services.cli._servers import find_servers, load_settings, redact, with_database
from shared.embedded import find_running
from shared.relay import checkpoint_key

if TYPE_CHECKING:
    from services.cli._runfile import RunRecord


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready(client: httpx.Client, port: int) -> str:
    try:
        response = client.get(f"http://127.0.0.1:{port}/ready")
    except httpx.HTTPError:
        return "no answer"
    return "ready" if response.status_code == 200 else f"not ready ({response.status_code})"


def _processes_table(record: RunRecord) -> Table:
    table = Table("process", "pid", "port", "restarts", "state", title="Supervised processes")
    with httpx.Client(timeout=1.0) as client:
        for process in record.processes:
            alive = _alive(process.pid)
            table.add_row(
                f"{process.service}-{process.replica}",
                str(process.pid),
                str(process.port),
                str(process.restarts),
                _ready(client, process.port) if alive else "not running",
            )
    return table


async def _relay_position(
    conn: asyncpg.Connection[asyncpg.Record], stream_name: str
) -> tuple[int, int] | None:
    try:
        head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
        relayed = await conn.fetchval(
            "SELECT position FROM relay_checkpoint WHERE relay = $1", checkpoint_key(stream_name)
        )
    except asyncpg.UndefinedTableError:
        return None
    return int(relayed or 0), int(head)


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state. Default: VIGIL_STATE_DIR or .vigil",
)
def status(state_dir: Path | None) -> None:
    """Show the servers in use, the processes `vigil up` supervises, and the relay's lag.

    \b
    Example:
      vigil status
    """  # noqa: D301 (click needs a real \b before literal blocks)
    settings = load_settings(state_dir)
    out = Console(highlight=False, soft_wrap=True)
    embedded = find_running(settings.state_dir)
    servers = find_servers(settings)
    assert servers.nats_url
    assert servers.database_url
    origin = (
        "embedded, under " + str(settings.state_dir)
        if embedded is not None
        and servers.nats_url == embedded.nats_url
        and servers.database_url == embedded.database_url
        else "from VIGIL_NATS_URL / VIGIL_DATABASE_URL"
    )
    out.print(f"Servers ({origin}):", style="bold")
    out.print(f"  NATS        {redact(servers.nats_url)}", markup=False)
    out.print(f"  PostgreSQL  {redact(servers.database_url)}", markup=False)

    record = read_run_record(settings.state_dir)
    if record is None or not _alive(record.supervisor_pid):
        out.print(f"vigil up: not running for {settings.state_dir}")
    else:
        gateway = f", gateway {record.gateway_url}" if record.gateway_url else ""
        out.print(
            f"vigil up: running (pid {record.supervisor_pid}{gateway}; logs in {record.logs})"
        )
        out.print(_processes_table(record))

    positions = with_database(
        servers.database_url, functools.partial(_relay_position, stream_name=settings.stream_name)
    )
    if positions is None:
        out.print("Relay: no event log yet (no service has started on this database)")
    else:
        relayed, head = positions
        lag = head - relayed
        state = "up to date" if lag <= 0 else f"{lag} event(s) behind"
        out.print(f"Relay: published up to position {relayed} of {head} ({state})")
