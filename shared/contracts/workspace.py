"""Events of the workspace context: the tenancy unit every other fact belongs to."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from shared.contracts.base import Event, register

__all__ = ("WORKSPACE_ID", "WorkspaceCreated", "WorkspaceEvent", "workspace_stream")

WORKSPACE_ID = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="lower-case letters, digits, '-' and '_', at most 63 characters",
    ),
]
"""A workspace id: safe as a NATS subject token and in URLs."""


def workspace_stream(workspace_id: str) -> str:
    """The id of the stream that holds a workspace's own lifecycle."""
    return f"workspace-{workspace_id}"


@register
class WorkspaceCreated(Event, frozen=True, tag="WorkspaceCreated"):
    """A workspace came into being."""

    context: ClassVar[str] = "workspace"

    workspace_id: str
    name: str
    description: str = ""


WorkspaceEvent = WorkspaceCreated
