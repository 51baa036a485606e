"""`vigil token ...`: issue API tokens straight into the database."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.api.tokens import Role, create_token
from services.cli._servers import find_servers, load_settings, with_database
from shared.migrations import apply_migrations

if TYPE_CHECKING:
    import asyncpg

__all__ = ("apply_api_schema", "token")


async def apply_api_schema(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Bring the shared and api tables up to date (tokens live in the api's schema)."""
    await apply_migrations(conn, "shared", "shared")
    await apply_migrations(conn, "api", "services.api")


def _default_name() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    required=True,
    help="viewer reads; analyst also writes; admin also creates and administers workspaces.",
)
@click.option("--workspace", "workspace_id", help="Limit the token to this workspace id.")
@click.option("--name", help="A label to recognise the token by. Default: cli:<your user name>.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state. Default: VIGIL_STATE_DIR or .vigil",
)
def create(role: str, workspace_id: str | None, name: str | None, state_dir: Path | None) -> None:
    """Issue a token and print it (only the token, on stdout).

    The token is shown this once; only its digest is stored. The servers are
    those of VIGIL_NATS_URL / VIGIL_DATABASE_URL, or the ones `vigil up`
    (`make run`) started in this folder.

    \b
    Examples:
      TOKEN=$(vigil token create --role viewer)
      vigil token create --role analyst --workspace acme --name "acme scanner"
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/workspaces
    """  # noqa: D301 (click needs a real \b before literal blocks)
    settings = find_servers(load_settings(state_dir))
    assert settings.database_url
    label = name or _default_name()

    async def work(conn: asyncpg.Connection[asyncpg.Record]) -> str:
        await apply_api_schema(conn)
        return await create_token(conn, name=label, role=Role(role), workspace_id=workspace_id)

    click.echo(with_database(settings.database_url, work))
