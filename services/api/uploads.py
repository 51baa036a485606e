"""Scan uploads: a multipart body streamed into the object store, then `ScanUploaded`.

The body is parsed as it arrives (``multipart``'s push parser, the one
Litestar itself uses) and the ``file`` part goes chunk by chunk into the
JetStream object store, so no upload is ever held whole in memory or spooled
to disk by the gateway. The size limit applies to the file itself
(``VIGIL_MAX_UPLOAD_BYTES``); the body as a whole may exceed it only by
`FORM_OVERHEAD` for the multipart framing and the text fields.
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec
import uuid_utils.compat
from litestar._multipart import parse_content_header
from multipart import (  # type: ignore[import-untyped]
    MultipartSegment,
    ParserError,
    ParserLimitReached,
    PushMultipartParser,
)

from services.api.errors import bad_request, problem
from services.api.scan_schemas import FORMAT_PATTERN
from shared.contracts import ScanUploaded, scan_stream
from shared.objectstore import ObjectTooLarge

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Request

    from shared.contracts import EventMetadata
    from shared.eventstore import EventStore
    from shared.objectstore import ScanObjectStore, StoredObject

__all__ = ("FORM_OVERHEAD", "UploadOptions", "receive_scan")

FORM_OVERHEAD = 1024 * 1024
"""Bytes a body may carry beyond the file: boundaries, part headers, text fields."""

_FIELD_LIMIT = 1024
_TEXT_FIELDS = {"format": 64, "scanner": 100, "scope": 200}
_Event: TypeAlias = Any
"""A parser event: a `MultipartSegment`, a piece of its body, or None at its end."""


class UploadOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The optional text fields of an upload, validated."""

    format: str | None = None
    scanner: str | None = None
    scope: str | None = None


def _too_large(limit: int) -> Exception:
    return problem(
        413,
        f"The file is larger than the upload limit of {limit:,} bytes "
        "(VIGIL_MAX_UPLOAD_BYTES); nothing was stored.",
        title="Upload too large",
    )


async def _limited(request: Request[Any, Any, Any], limit: int) -> AsyncIterator[bytes]:
    """The raw body in chunks; 413 as soon as it crosses `limit` bytes."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit - FORM_OVERHEAD)
        if chunk:
            yield chunk


async def _events(chunks: AsyncIterator[bytes], boundary: str) -> AsyncIterator[_Event]:
    """Parser events: a segment's headers, its body in pieces, None at its end."""
    parser = PushMultipartParser(boundary, max_segment_count=len(_TEXT_FIELDS) + 1)
    async for chunk in chunks:
        for event in parser.parse(chunk):
            yield event
    for event in parser.parse(b""):
        yield event


async def _body(events: AsyncIterator[_Event]) -> AsyncIterator[bytes]:
    """The rest of the current part's body."""
    async for event in events:
        if event is None:
            return
        if not isinstance(event, MultipartSegment):
            yield bytes(event)


async def _text(events: AsyncIterator[_Event], name: str) -> str:
    value = bytearray()
    async for piece in _body(events):
        value += piece
        if len(value) > _FIELD_LIMIT:
            raise bad_request(f"The form field {name!r} is too long.")
    try:
        return value.decode().strip()
    except UnicodeDecodeError:
        raise bad_request(f"The form field {name!r} is not UTF-8 text.") from None


def _options(fields: dict[str, str]) -> UploadOptions:
    for name, value in fields.items():
        if len(value) > _TEXT_FIELDS[name] or not value.isprintable():
            raise bad_request(
                f"The form field {name!r} must be printable text of at most "
                f"{_TEXT_FIELDS[name]} characters."
            )
    fmt = fields.get("format") or None
    if fmt is not None and not FORMAT_PATTERN.match(fmt):
        raise bad_request(
            f"The format hint {fmt!r} is not a format name (lower-case letters, digits, "
            "'.', '_' and '-'); leave it out to let vigil detect the format."
        )
    return UploadOptions(
        format=fmt, scanner=fields.get("scanner") or None, scope=fields.get("scope") or None
    )


def _filename(segment: MultipartSegment) -> str:
    name = pathlib.PurePosixPath(str(segment.filename or "").replace("\\", "/")).name
    return name[:255] or "upload"


class _Form:
    """What the form held: the stored file, its name, and the text fields."""

    def __init__(self) -> None:
        self.stored: StoredObject | None = None
        self.filename = "upload"
        self.fields: dict[str, str] = {}


async def _read_form(
    events: AsyncIterator[_Event], objects: ScanObjectStore, object_name: str, form: _Form
) -> None:
    async for event in events:
        if not isinstance(event, MultipartSegment):
            continue
        name = event.name
        if name == "file":
            if form.stored is not None:
                raise bad_request("The form has more than one 'file' part; upload one file.")
            form.filename = _filename(event)
            form.stored = await objects.put(object_name, _body(events))
        elif name in _TEXT_FIELDS and not event.filename:
            if name in form.fields:
                raise bad_request(f"The form field {name!r} is given twice.")
            form.fields[name] = await _text(events, name)
            _options(form.fields)  # refuse a bad hint before the file is read, when it comes first
        else:
            raise bad_request(
                f"Unexpected form part {name!r}; the form takes 'file' and, optionally, "
                "'format', 'scanner' and 'scope'."
            )


async def receive_scan(
    request: Request[Any, Any, Any],
    store: EventStore,
    objects: ScanObjectStore,
    *,
    workspace_id: str,
    metadata: EventMetadata,
) -> tuple[ScanUploaded, int]:
    """Stream the uploaded file into the object store and record its `ScanUploaded`.

    Returns the event and its log position.

    Nothing is left behind when the upload is refused: a partly sent file is
    purged, a stored one deleted.

    Raises:
        ProblemDetailsException: 415 for a body that is not multipart/form-data,
            413 for a file over the limit, 400 for a malformed form.
    """
    content_type, params = parse_content_header(request.headers.get("content-type", ""))
    boundary = params.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise problem(
            415,
            "Send the scan as multipart/form-data with the file in a part named 'file' "
            "(e.g. curl -F file=@scan.xml).",
        )
    limit = objects.max_bytes + FORM_OVERHEAD
    if (request.content_length or 0) > limit:
        raise _too_large(objects.max_bytes)
    scan_id = str(uuid_utils.compat.uuid7())
    object_name = f"{workspace_id}/{scan_id}"
    form = _Form()
    try:
        await _read_form(_events(_limited(request, limit), boundary), objects, object_name, form)
        options = _options(form.fields)
        if form.stored is None:
            raise bad_request("The form has no 'file' part: send the scan as -F file=@scan.xml.")
        uploaded = ScanUploaded(
            scan_id=scan_id,
            workspace_id=workspace_id,
            object_name=object_name,
            filename=form.filename,
            size=form.stored.size,
            sha256=form.stored.sha256,
            format_hint=options.format,
            scanner_hint=options.scanner,
            scope=options.scope,
        )
        [recorded] = await store.append_to_stream(
            scan_stream(scan_id), workspace_id, [uploaded], expected_version=0, metadata=metadata
        )
    except BaseException as error:
        if form.stored is not None:
            with contextlib.suppress(Exception):
                await objects.delete(object_name)
        if isinstance(error, ObjectTooLarge):
            raise _too_large(objects.max_bytes) from None
        if isinstance(error, ParserLimitReached):
            raise bad_request("The form has too many parts or too large part headers.") from None
        if isinstance(error, ParserError):
            raise bad_request(f"The body is not valid multipart/form-data: {error}") from None
        raise
    return uploaded, recorded.position
