"""``/api/v1/workspaces/{workspace_id}/reports``: request reports, follow them, fetch the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Response, Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from services.api.errors import conflict, not_found, problem
from services.api.readmodels import workspace_for
from services.api.report_schemas import (
    ReportAccepted,
    ReportList,
    ReportStatus,
    ReportView,
    RequestReport,
)
from services.api.reports import (
    generated_file,
    get_report,
    list_reports,
    report_url,
    request_report,
)
from shared.contracts.base import EventMetadata
from shared.eventstore import EventStore
from shared.objectstore import REPORTS_BUCKET, ObjectMissing, ScanObjectStore

__all__ = ("ReportController",)

_CHUNK = 256 * 1024


def _report_files(state: State) -> ScanObjectStore:
    runtime = state.get("runtime")
    if runtime is None:
        raise problem(503, "The gateway is starting or stopping; try again shortly.")
    return ScanObjectStore(runtime.js, bucket=REPORTS_BUCKET)


async def _file_chunks(files: ScanObjectStore, name: str) -> AsyncIterator[bytes]:
    async with files.download(name) as file:
        while chunk := file.read(_CHUNK):
            yield chunk


class ReportController(Controller):
    """Reports: request one (202, rendered in the background), list, show progress, download."""

    path = "/api/v1/workspaces/{workspace_id:str}/reports"
    tags = ("reports",)
    dependencies = {"report_files": Provide(_report_files, sync_to_thread=False)}

    @post(
        status_code=HTTP_202_ACCEPTED,
        summary="Request a report",
        response_headers=[
            ResponseHeader(name="Location", description="The report's URL", documentation_only=True)
        ],
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        data: JSONBody[RequestReport],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Response[ReportAccepted]:
        """Record `ReportRequested` as of the log's current head; analyst or admin.

        The report reflects every event up to `position` and nothing after,
        so the same request renders the same report whenever it runs.
        """
        await workspace_for(request, pool, store, workspace_id, write=True)
        requested = await request_report(store, workspace_id, data, metadata)
        url = report_url(workspace_id, requested.report_id)
        accepted = ReportAccepted(
            id=requested.report_id,
            workspace_id=workspace_id,
            status=ReportStatus.QUEUED,
            format=requested.format,
            template=requested.template,
            position=requested.position,
            url=url,
            file_url=f"{url}/file",
        )
        return Response(accepted, status_code=HTTP_202_ACCEPTED, headers={"Location": url})

    @get(summary="List reports")
    async def list(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="How many")] = 50,
    ) -> ReportList:
        """The workspace's reports, newest request first."""
        await workspace_for(request, pool, store, workspace_id)
        return ReportList(reports=await list_reports(pool, workspace_id, limit=limit))

    @get("/{report_id:str}", summary="Show a report")
    async def show(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        report_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> ReportView:
        """Status (queued, rendering, generated, failed), stage and percent, file details."""
        await workspace_for(request, pool, store, workspace_id)
        report = await get_report(pool, store, workspace_id, report_id)
        if report is None:
            raise not_found(f"Workspace {workspace_id!r} has no report {report_id!r}.")
        return report

    @get("/{report_id:str}/file", summary="Download a report's file")
    async def file(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        report_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        report_files: NamedDependency[ScanObjectStore],
    ) -> Stream:
        """The rendered file, streamed, with its content type and a download file name.

        409 while the report is queued or rendering, or when it failed.
        """
        await workspace_for(request, pool, store, workspace_id)
        report = await get_report(pool, store, workspace_id, report_id)
        if report is None:
            raise not_found(f"Workspace {workspace_id!r} has no report {report_id!r}.")
        if report.status is ReportStatus.FAILED:
            raise conflict(f"Report {report_id!r} failed: {report.reason}")
        if report.status is not ReportStatus.GENERATED:
            raise conflict(
                f"Report {report_id!r} is {report.status} ({report.percent}%); "
                f"poll {report.url} until it is generated."
            )
        generated = await generated_file(store, report_id)
        try:
            if generated is None:
                raise ObjectMissing(report_id)
            stored = await report_files.info(generated.object_name)
        except ObjectMissing:
            raise problem(410, f"The file of report {report_id!r} is no longer stored.") from None
        return Stream(
            _file_chunks(report_files, generated.object_name),
            # Litestar appends "; charset=utf-8" to text types itself.
            media_type=generated.content_type.partition(";")[0],
            headers={
                "Content-Disposition": f'attachment; filename="{generated.filename}"',
                "Content-Length": str(stored.size),
                "ETag": f'"{stored.sha256}"',
            },
        )
