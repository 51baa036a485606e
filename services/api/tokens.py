"""API tokens: issued once in plain text, stored only as a SHA-256 digest.

A token is ``vgl_`` followed by 256 random bits; hashing such a secret with
SHA-256 is enough (no slow KDF is needed for high-entropy secrets), and the
lookup by digest reveals nothing through timing. Each token carries a role
and an optional workspace scope; `Principal` is what a verified token grants.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import secrets
import uuid
from typing import TYPE_CHECKING

import msgspec
import uuid_utils.compat

if TYPE_CHECKING:
    from shared.database import Connection

__all__ = (
    "TOKEN_PREFIX",
    "Principal",
    "Role",
    "TokenInfo",
    "create_token",
    "list_tokens",
    "revoke_token",
    "verify_token",
)

TOKEN_PREFIX = "vgl_"
_DISPLAY_LENGTH = len(TOKEN_PREFIX) + 8
_MAX_TOKEN_LENGTH = 200


class Role(enum.StrEnum):
    """What a token may do: viewers read, analysts also write, admins also administer."""

    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"


class Principal(msgspec.Struct, frozen=True):
    """The identity behind a verified token, and what it is allowed to touch."""

    token_id: uuid.UUID
    name: str
    role: Role
    workspace_id: str | None = None

    @property
    def actor(self) -> str:
        """How this principal is named in event metadata."""
        return f"token:{self.name}:{self.token_id}"

    def may_access(self, workspace_id: str) -> bool:
        """Whether the token's workspace scope covers `workspace_id`."""
        return self.workspace_id is None or self.workspace_id == workspace_id

    def may_write(self, workspace_id: str) -> bool:
        """Whether the token may record facts in `workspace_id`."""
        return self.role in (Role.ADMIN, Role.ANALYST) and self.may_access(workspace_id)

    def may_administer(self, workspace_id: str) -> bool:
        """Whether the token may create or administer `workspace_id`."""
        return self.role is Role.ADMIN and self.may_access(workspace_id)


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A token as listed: everything but the secret."""

    token_id: uuid.UUID
    name: str
    role: Role
    workspace_id: str | None
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_token(
    conn: Connection, *, name: str, role: Role, workspace_id: str | None = None
) -> str:
    """Issue a token and return it in plain text; this is the only time it is visible."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_tokens (token_id, name, role, workspace_id, prefix, secret_hash)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        uuid_utils.compat.uuid7(),
        name,
        Role(role).value,
        workspace_id,
        token[:_DISPLAY_LENGTH],
        _digest(token),
    )
    return token


async def verify_token(conn: Connection, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token; None for anything else."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        return None
    row = await conn.fetchrow(
        "SELECT token_id, name, role, workspace_id FROM api_tokens"
        " WHERE secret_hash = $1 AND revoked_at IS NULL",
        _digest(token),
    )
    if row is None:
        return None
    return Principal(row["token_id"], row["name"], Role(row["role"]), row["workspace_id"])


async def revoke_token(conn: Connection, token_id: uuid.UUID) -> bool:
    """Revoke a token at once; False when no such live token exists."""
    status: str = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE token_id = $1 AND revoked_at IS NULL",
        token_id,
    )
    return status == "UPDATE 1"


async def list_tokens(conn: Connection) -> list[TokenInfo]:
    """Every token, newest first, without secrets."""
    rows = await conn.fetch(
        "SELECT token_id, name, role, workspace_id, prefix, created_at, revoked_at"
        " FROM api_tokens ORDER BY created_at DESC, token_id DESC"
    )
    return [
        TokenInfo(
            token_id=row["token_id"],
            name=row["name"],
            role=Role(row["role"]),
            workspace_id=row["workspace_id"],
            prefix=row["prefix"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]
