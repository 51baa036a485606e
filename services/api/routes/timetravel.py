"""``/api/v1/workspaces/{workspace_id}/findings/as-of``: findings as they stood at a past moment."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from services.api.access import readable_workspace
from services.api.errors import bad_request
from services.api.timetravel import FindingsAsOf, PastTheHead, findings_as_of, position_at
from shared.contracts import FindingStatus
from shared.eventstore import EventStore

__all__ = ("TimeTravelController",)


def _moment(at: str) -> dt.datetime | int:
    """A log position (digits) or an ISO 8601 time (UTC when it names no zone)."""
    if at.isdigit():
        return int(at)
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        raise bad_request(f"'at' must be a log position or an ISO 8601 time, not {at!r}.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class TimeTravelController(Controller):
    """Answers from the log as of a position or a time, not from the live read models."""

    path = "/api/v1/workspaces/{workspace_id:str}/findings/as-of"
    tags = ("findings",)

    @get(summary="Findings as of a past position or time")
    async def as_of(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        store: NamedDependency[EventStore],
        pool: NamedDependency[asyncpg.Pool],
        at: Annotated[
            str,
            QueryParameter(
                description="A log position, or an ISO 8601 time (e.g. 2025-03-01T12:00Z)"
            ),
        ],
        status: Annotated[
            list[FindingStatus] | None, QueryParameter(description="Only these statuses")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10000, description="Most findings")] = 1000,
    ) -> FindingsAsOf:
        """Every finding of the workspace after the events up to `at`, by fingerprint."""
        await readable_workspace(request, pool, workspace_id)
        moment = _moment(at)
        position = moment if isinstance(moment, int) else await position_at(pool, moment)
        try:
            position, findings = await findings_as_of(store, workspace_id, position)
        except PastTheHead as error:
            raise bad_request(str(error)) from None
        chosen = [
            finding
            for _, finding in sorted(findings.items())
            if status is None or finding.status in status
        ]
        return FindingsAsOf(
            workspace_id=workspace_id, position=position, findings=chosen[:limit], total=len(chosen)
        )
