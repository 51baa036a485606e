"""``/api/v1/workspaces/{workspace_id}/scans``: upload scan files and watch their import."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)
from litestar.params import FromPath, QueryParameter
from litestar.response import Response
from litestar.status_codes import HTTP_202_ACCEPTED

from services.api.errors import not_found, problem
from services.api.readmodels import workspace_for
from services.api.scan_schemas import FORMAT_PATTERN, ScanAccepted, ScanList, ScanStatus, ScanView
from services.api.scans import get_scan, list_scans
from services.api.uploads import receive_scan
from shared.contracts.base import EventMetadata
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore

__all__ = ("ScanController",)

_TEXT = OpenAPIType.STRING
_FORM = Schema(
    type=OpenAPIType.OBJECT,
    required=["file"],
    properties={
        "file": Schema(
            type=_TEXT,
            format=OpenAPIFormat.BINARY,
            description="The scanner's output file; its format is detected from its content.",
        ),
        "format": Schema(
            type=_TEXT,
            pattern=FORMAT_PATTERN.pattern,
            description="Parser format name, to skip detection (e.g. nmap-xml). An unknown "
            "name fails the import with a reason that lists the known formats.",
        ),
        "scanner": Schema(type=_TEXT, max_length=100, description="Scanner name to record."),
        "scope": Schema(
            type=_TEXT,
            max_length=200,
            description="Scope tag: a later scan with the same tag may close findings seen "
            "under it.",
        ),
    },
)


@dataclasses.dataclass
class _UploadOperation(Operation):
    """The upload's OpenAPI operation: the body is streamed, so Litestar cannot infer it."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            required=True,
            description="multipart/form-data, streamed to the object store as it arrives.",
            content={"multipart/form-data": OpenAPIMediaType(schema=_FORM)},
        )


def _objects(state: State) -> ScanObjectStore:
    runtime = state.get("runtime")
    if runtime is None:
        raise problem(503, "The gateway is starting or stopping; try again shortly.")
    return ScanObjectStore(runtime.js, max_bytes=runtime.settings.max_upload_bytes)


def scan_url(workspace_id: str, scan_id: str) -> str:
    """Where a scan's status is read."""
    return f"/api/v1/workspaces/{workspace_id}/scans/{scan_id}"


class ScanController(Controller):
    """Scan files: upload (202, imported in the background), list, show status and progress."""

    path = "/api/v1/workspaces/{workspace_id:str}/scans"
    tags = ("scans",)
    dependencies = {"objects": Provide(_objects, sync_to_thread=False)}

    @post(
        status_code=HTTP_202_ACCEPTED,
        summary="Upload a scan file",
        request_max_body_size=None,  # the upload enforces VIGIL_MAX_UPLOAD_BYTES itself
        operation_class=_UploadOperation,
        response_headers=[
            ResponseHeader(name="Location", description="The scan's URL", documentation_only=True)
        ],
        media_type=MediaType.JSON,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        objects: NamedDependency[ScanObjectStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Response[ScanAccepted]:
        """Store the file and record `ScanUploaded`; the import runs in the ingest service.

        Analyst or admin. Answers at once: 413 for a file over the limit, 415
        for a body that is not multipart/form-data; nothing is stored then.
        """
        await workspace_for(request, pool, store, workspace_id, write=True)
        uploaded, position = await receive_scan(
            request, store, objects, workspace_id=workspace_id, metadata=metadata
        )
        url = scan_url(workspace_id, uploaded.scan_id)
        accepted = ScanAccepted(
            id=uploaded.scan_id,
            workspace_id=workspace_id,
            status=ScanStatus.QUEUED,
            filename=uploaded.filename,
            size=uploaded.size,
            sha256=uploaded.sha256,
            url=url,
            position=position,
        )
        return Response(accepted, status_code=HTTP_202_ACCEPTED, headers={"Location": url})

    @get(summary="List scans")
    async def list(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        status: Annotated[
            list[ScanStatus] | None, QueryParameter(description="Only scans in these statuses")
        ] = None,
        cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of a page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size")] = 50,
    ) -> ScanList:
        """The workspace's scans, newest upload first."""
        await workspace_for(request, pool, store, workspace_id)
        return await list_scans(pool, workspace_id, status=status or (), cursor=cursor, limit=limit)

    @get("/{scan_id:str}", summary="Show a scan")
    async def show(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        scan_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> ScanView:
        """Status (queued, parsing, applied, failed), progress, counts and failure reason."""
        await workspace_for(request, pool, store, workspace_id)
        scan = await get_scan(pool, store, workspace_id, scan_id)
        if scan is None:
            raise not_found(f"Workspace {workspace_id!r} has no scan {scan_id!r}.")
        return scan
