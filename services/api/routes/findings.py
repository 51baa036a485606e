"""``/api/v1/workspaces/{workspace_id}/findings``: list, show, history and status changes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from services.api.errors import conflict, not_found, problem
from services.api.finding_status import (
    FindingNotFound,
    InvalidStatusChange,
    StaleFinding,
    change_status,
)
from services.api.findings import FindingFilter, get_finding, list_findings
from services.api.inventory_schemas import (
    ChangeFindingStatus,
    Finding,
    FindingHistory,
    FindingPage,
    FindingSort,
    SortOrder,
)
from services.api.readmodels import workspace_for
from services.api.schemas import EventView
from shared.contracts import FindingStatusChanged, finding_stream
from shared.contracts.base import EventMetadata
from shared.eventstore import ConcurrencyError, EventStore
from shared.projections import ProjectionRunner

__all__ = ("FindingController",)

_Multi = list[str] | None
_When = dt.datetime | None


def _missing(workspace_id: str, finding_id: str) -> Exception:
    return not_found(f"Workspace {workspace_id!r} has no finding {finding_id!r}.")


class FindingController(Controller):
    """Findings: the deduplicated issues of a workspace, each with its audited lifecycle."""

    path = "/api/v1/workspaces/{workspace_id:str}/findings"
    tags = ("findings",)

    @get(summary="List findings")
    async def list(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        severity: Annotated[
            _Multi, QueryParameter(description="info, low, medium, high, critical (any of)")
        ] = None,
        status: Annotated[
            _Multi,
            QueryParameter(description="open, fixed, reopened, risk_accepted, false_positive"),
        ] = None,
        asset: Annotated[str | None, QueryParameter(description="Asset id or key")] = None,
        cve: Annotated[str | None, QueryParameter(description="A CVE id it names")] = None,
        q: Annotated[
            str | None, QueryParameter(description="Text search: title, CVEs, asset, description")
        ] = None,
        first_seen_after: Annotated[_When, QueryParameter(description="First seen from")] = None,
        first_seen_before: Annotated[_When, QueryParameter(description="First seen before")] = None,
        last_seen_after: Annotated[_When, QueryParameter(description="Last seen from")] = None,
        last_seen_before: Annotated[_When, QueryParameter(description="Last seen before")] = None,
        sort: Annotated[FindingSort, QueryParameter(description="Sort key")] = FindingSort.SEVERITY,
        order: Annotated[
            SortOrder | None, QueryParameter(description="asc or desc (default: desc, title asc)")
        ] = None,
        cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of a page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size")] = 50,
    ) -> FindingPage:
        """Findings matching every filter given, a page at a time (keyset on sort key + id)."""
        await workspace_for(request, pool, store, workspace_id)
        query = FindingFilter(
            severity=severity or (),
            status=status or (),
            asset=asset,
            cve=cve,
            q=q,
            first_seen_after=first_seen_after,
            first_seen_before=first_seen_before,
            last_seen_after=last_seen_after,
            last_seen_before=last_seen_before,
        )
        if order is None:
            order = SortOrder.ASC if sort is FindingSort.TITLE else SortOrder.DESC
        return await list_findings(
            pool, workspace_id, query, sort=sort, order=order, cursor=cursor, limit=limit
        )

    @get("/{finding_id:str}", summary="Show a finding")
    async def show(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        finding_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> Finding:
        """One finding with its latest details and last analyst change."""
        await workspace_for(request, pool, store, workspace_id)
        finding = await get_finding(pool, workspace_id, finding_id)
        if finding is None:
            raise _missing(workspace_id, finding_id)
        return finding

    @get("/{finding_id:str}/history", summary="Show a finding's history")
    async def history(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        finding_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> FindingHistory:
        """Every event of the finding from the log: detections, observations, status changes."""
        await workspace_for(request, pool, store, workspace_id)
        events = await store.read_stream(finding_stream(finding_id))
        events = [event for event in events if event.workspace_id == workspace_id]
        if not events:
            raise _missing(workspace_id, finding_id)
        return FindingHistory(
            id=finding_id, events=[EventView.from_recorded(event) for event in events]
        )

    @patch("/{finding_id:str}", summary="Change a finding's status")
    async def change(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        finding_id: FromPath[str],
        data: JSONBody[ChangeFindingStatus],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        runner: NamedDependency[ProjectionRunner],
        metadata: NamedDependency[EventMetadata],
    ) -> Finding:
        """Record `FindingStatusChanged` with the caller as actor (analyst or admin).

        422 for a change the lifecycle forbids, 409 when the finding changed
        meanwhile (or is not at the `version` given). Setting the status it
        already has records nothing.
        """
        await workspace_for(request, pool, store, workspace_id, write=True)
        try:
            recorded = await change_status(
                store,
                runner,
                workspace_id=workspace_id,
                finding_id=finding_id,
                status=data.status,
                comment=data.comment,
                expected_version=data.version,
                metadata=metadata,
            )
        except FindingNotFound:
            raise _missing(workspace_id, finding_id) from None
        except InvalidStatusChange as invalid:
            raise problem(422, str(invalid), title="Status change not allowed") from None
        except (StaleFinding, ConcurrencyError) as stale:
            raise conflict(str(stale)) from None
        finding = await get_finding(pool, workspace_id, finding_id)
        if finding is None:
            raise _missing(workspace_id, finding_id)
        if recorded is not None and finding.version < recorded.stream_version:
            # The read model lags past its deadline: show what the log already says.
            changed = recorded.data
            assert isinstance(changed, FindingStatusChanged)
            finding = msgspec.structs.replace(
                finding,
                status=str(changed.status),
                status_comment=changed.comment,
                status_actor=changed.actor,
                status_changed_at=changed.changed_at,
                version=recorded.stream_version,
            )
        return finding
