"""How CLI commands find the servers and talk to PostgreSQL, with user-facing errors."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import TYPE_CHECKING, TypeVar

import asyncpg
import click
import msgspec

from shared.database import init_connection
from shared.runtime import NoServersError, resolve_servers
from shared.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

T = TypeVar("T")


class ServersNotFound(click.ClickException):
    """No ``VIGIL_*`` URLs and no running embedded servers: tell the user how to get some."""

    exit_code = 2


def load_settings(state_dir: Path | None = None) -> Settings:
    """Settings from the environment, with `state_dir` (from ``--state-dir``) taking precedence."""
    try:
        settings = Settings.from_env()
    except ValueError as error:
        raise click.ClickException(f"Invalid VIGIL_* setting: {error}") from None
    if state_dir is not None:
        settings = msgspec.structs.replace(settings, state_dir=state_dir)
    return settings


def find_servers(settings: Settings) -> Settings:
    """`settings` with both server URLs, or a `ServersNotFound` that says what to do."""
    try:
        return resolve_servers(settings)
    except NoServersError as error:
        raise ServersNotFound(str(error)) from None


def redact(url: str) -> str:
    """`url` without its password, fit to print."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def with_database(
    database_url: str, work: Callable[[asyncpg.Connection[asyncpg.Record]], Awaitable[T]]
) -> T:
    """Run `work` on one connection to `database_url`; failures become CLI messages."""

    async def run() -> T:
        conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(database_url, timeout=10)
        try:
            await init_connection(conn)
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise click.ClickException(
            f"PostgreSQL at {redact(database_url)} failed: {error or type(error).__name__}"
        ) from None
