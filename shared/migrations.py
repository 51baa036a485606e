"""Versioned schema migrations, applied automatically when a process starts.

Each component (``shared``, and any service owning read models) ships numbered
``NNNN_name.sql`` files in a ``schema`` folder of its package. A session
advisory lock serialises processes that start at the same time.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.database import Connection

__all__ = ("Migration", "apply_migrations", "pending_migrations")

_MIGRATION_LOCK = 0x76696769  # "vigi"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Migration:
    """One numbered SQL script of a component."""

    def __init__(self, component: str, version: int, name: str, sql: str) -> None:
        self.component = component
        self.version = version
        self.name = name
        self.sql = sql


def _load(component: str, package: str) -> list[Migration]:
    folder = resources.files(package) / "schema"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(component, int(match[1]), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


async def pending_migrations(conn: Connection, component: str, package: str) -> list[Migration]:
    """The migrations of `component` not yet applied to the database."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
    )
    rows = await conn.fetch("SELECT version FROM schema_migrations WHERE component = $1", component)
    applied = {row["version"] for row in rows}
    return [m for m in _load(component, package) if m.version not in applied]


async def apply_migrations(conn: Connection, component: str, package: str) -> list[str]:
    """Bring `component`'s tables up to date; returns the names of the scripts applied.

    Each script runs in its own transaction together with its bookkeeping
    row, so a failed script leaves the schema at the previous version.
    """
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        applied = []
        for migration in await pending_migrations(conn, component, package):
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                    component,
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
