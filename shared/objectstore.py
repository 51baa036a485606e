"""Scan files in the NATS JetStream object store, streamed in and out in chunks.

Uploads arrive as an async iterator of byte chunks and are published chunk
by chunk, a few chunks' acks awaited at a time rather than each before the
next is sent, so a file is never held whole in memory; a size limit stops an
oversized upload as soon as it crosses the limit and removes what was
already sent. Readers get the object back as a temporary file, because the
parsers read a blocking ``IO[bytes]``: either whole (`download`) or while it
is still arriving, for a reader in a worker thread (`download_streaming`).

Objects are written in the JetStream object-store wire format (the one
nats-py's ``ObjectStore`` and the ``nats`` CLI read): chunks on
``$O.<bucket>.C.<nuid>``, then one meta message that names them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import hashlib
import io
import json
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING

import msgspec
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError, ObjectNotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.js.object_store import (
    OBJ_CHUNKS_PRE_TEMPLATE,
    OBJ_DIGEST_TEMPLATE,
    OBJ_DIGEST_TYPE,
    OBJ_META_PRE_TEMPLATE,
    OBJ_STREAM_TEMPLATE,
)
from nats.nuid import NUID

from shared.filling_file import FillingFile, TransferFailed

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Iterable

    from nats.js import JetStreamContext
    from nats.js.object_store import ObjectStore

__all__ = (
    "DEFAULT_BUCKET",
    "REPORTS_BUCKET",
    "ObjectMissing",
    "ObjectTooLarge",
    "ScanObjectStore",
    "StoredObject",
)

DEFAULT_BUCKET = "vigil-scans"
REPORTS_BUCKET = "vigil-reports"
"""The bucket of rendered reports (written by the reports service, served by the gateway)."""
_CHUNK = 128 * 1024
_FETCH_BATCH = 64
"""Chunks asked for at once by a streaming download: 8 MiB of default-sized chunks."""
_FETCH_TIMEOUT = 10.0
_IN_FLIGHT = 16
"""Chunks an upload has sent and not yet seen acknowledged: 2 MiB of default-sized chunks."""
_ACK_TIMEOUT = 10.0


class ObjectTooLarge(ValueError):
    """An upload crossed the size limit; nothing of it was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file is larger than the upload limit of {limit:,} bytes "
            "(VIGIL_MAX_UPLOAD_BYTES); nothing was stored."
        )
        self.limit = limit


class ObjectMissing(LookupError):
    """No object of that name is in the bucket (never stored, or deleted)."""


class StoredObject(msgspec.Struct, frozen=True, kw_only=True):
    """What the store knows of one object: its name, size and SHA-256 (hex)."""

    name: str
    size: int
    sha256: str


def _sha256_hex(digest: str | None) -> str:
    if not digest:
        return hashlib.sha256(b"").hexdigest()
    encoded = digest.removeprefix(OBJ_DIGEST_TYPE).removeprefix(OBJ_DIGEST_TYPE.upper())
    try:
        return base64.urlsafe_b64decode(encoded).hex()
    except (binascii.Error, ValueError):
        return ""


async def _settle(acks: Iterable[asyncio.Future[api.PubAck]]) -> None:
    """Wait a while for published chunks' acks, whatever they say; cancel those still missing."""
    pending = list(acks)
    if pending:
        await asyncio.wait(pending, timeout=_ACK_TIMEOUT)
    for ack in pending:
        if ack.done() and not ack.cancelled():
            ack.exception()  # retrieved: a failed ack is no news here
        else:
            ack.cancel()


def _meta_subject(bucket: str, name: str) -> str:
    return OBJ_META_PRE_TEMPLATE.format(
        bucket=bucket, obj=base64.urlsafe_b64encode(name.encode()).decode()
    )


class ScanObjectStore:
    """One object-store bucket of scan files, created on first use.

    `max_bytes` bounds every `put`; `chunk_size` is the size of each stored
    chunk (the last one may be shorter).
    """

    def __init__(
        self,
        js: JetStreamContext,
        *,
        bucket: str = DEFAULT_BUCKET,
        max_bytes: int = 512 * 1024 * 1024,
        chunk_size: int = _CHUNK,
    ) -> None:
        self._js = js
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.chunk_size = chunk_size
        self._nuid = NUID()
        self._store: ObjectStore | None = None

    async def _bucket(self) -> ObjectStore:
        if self._store is None:
            try:
                self._store = await self._js.object_store(self.bucket)
            except (NotFoundError, BadRequestError):
                self._store = await self._js.create_object_store(
                    self.bucket,
                    config=api.ObjectStoreConfig(bucket=self.bucket, storage=api.StorageType.FILE),
                )
        return self._store

    async def put(self, name: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """Store the bytes `chunks` yields under `name`, replacing any object of that name.

        Memory holds at most `_IN_FLIGHT` unacknowledged chunks plus one incoming piece.

        Raises:
            ObjectTooLarge: the content crossed `max_bytes`; the chunks sent are purged.
        """
        await self._bucket()
        stream = OBJ_STREAM_TEMPLATE.format(bucket=self.bucket)
        nuid = self._nuid.next().decode()
        chunk_subject = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=self.bucket, obj=nuid)
        digest = hashlib.sha256()
        buffer = bytearray()
        size = 0
        sent = 0
        acks: collections.deque[asyncio.Future[api.PubAck]] = collections.deque()
        try:
            async for piece in chunks:
                size += len(piece)
                if size > self.max_bytes:
                    raise ObjectTooLarge(self.max_bytes)
                digest.update(piece)
                buffer += piece
                while len(buffer) >= self.chunk_size:
                    await self._publish_chunk(acks, chunk_subject, bytes(buffer[: self.chunk_size]))
                    del buffer[: self.chunk_size]
                    sent += 1
            if buffer:
                await self._publish_chunk(acks, chunk_subject, bytes(buffer))
                sent += 1
            while acks:
                await asyncio.wait_for(acks.popleft(), _ACK_TIMEOUT)
            previous = await self._info_or_none(name)
            info = api.ObjectInfo(
                name=name,
                bucket=self.bucket,
                nuid=nuid,
                size=size,
                chunks=sent,
                mtime=datetime.now(UTC).isoformat(),
                digest=OBJ_DIGEST_TEMPLATE.format(
                    digest=base64.urlsafe_b64encode(digest.digest()).decode()
                ),
                options=api.ObjectMetaOptions(max_chunk_size=self.chunk_size),
            )
            await self._js.publish(
                _meta_subject(self.bucket, name),
                json.dumps(info.as_dict()).encode(),
                headers={api.Header.ROLLUP: MSG_ROLLUP_SUBJECT},
            )
        except BaseException:
            await _settle(acks)  # so that no chunk still in flight lands after the purge
            with contextlib.suppress(Exception):
                await self._js.purge_stream(stream, subject=chunk_subject)
            raise
        if previous is not None and previous.nuid and not previous.deleted:
            old = OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=self.bucket, obj=previous.nuid)
            await self._js.purge_stream(stream, subject=old)
        return StoredObject(name=name, size=size, sha256=digest.hexdigest())

    async def _publish_chunk(
        self, acks: collections.deque[asyncio.Future[api.PubAck]], subject: str, chunk: bytes
    ) -> None:
        """Publish one chunk, first waiting for the oldest ack once `_IN_FLIGHT` are pending."""
        if len(acks) >= _IN_FLIGHT:
            await asyncio.wait_for(acks.popleft(), _ACK_TIMEOUT)
        acks.append(await self._js.publish_async(subject, chunk))

    async def _info_or_none(self, name: str) -> api.ObjectInfo | None:
        store = await self._bucket()
        try:
            return await store.get_info(name)
        except (ObjectNotFoundError, NotFoundError):
            return None

    async def info(self, name: str) -> StoredObject:
        """Name, size and SHA-256 of a stored object.

        Raises:
            ObjectMissing: there is no such object.
        """
        info = await self._info_or_none(name)
        if info is None:
            raise ObjectMissing(f"no object {name!r} in bucket {self.bucket!r}")
        return StoredObject(name=name, size=info.size or 0, sha256=_sha256_hex(info.digest))

    @contextlib.asynccontextmanager
    async def download(self, name: str) -> AsyncIterator[IO[bytes]]:
        """The object's whole content in a temporary file, positioned at its start.

        The digest is verified while reading; the file is removed on exit.

        Raises:
            ObjectMissing: there is no such object.
            TransferFailed: the download broke off, or the content does not match its digest.
        """
        async with self._filling(name) as (file, filling):
            await filling
            yield io.BufferedReader(file, buffer_size=_CHUNK)

    @contextlib.asynccontextmanager
    async def download_streaming(self, name: str) -> AsyncIterator[IO[bytes]]:
        """The object's content in a temporary file that fills while it is read.

        Read it from a worker thread (`asyncio.to_thread`): a read that
        catches up with the download blocks until more has arrived. If the
        download breaks off, or the content does not match its digest, the
        read raises `TransferFailed`. The file is removed on exit.

        Raises:
            ObjectMissing: there is no such object.
        """
        async with self._filling(name) as (file, _):
            yield io.BufferedReader(file, buffer_size=_CHUNK)

    @contextlib.asynccontextmanager
    async def _filling(self, name: str) -> AsyncIterator[tuple[FillingFile, asyncio.Task[None]]]:
        info = await self._info_or_none(name)
        if info is None or info.deleted or not info.nuid:
            raise ObjectMissing(f"no object {name!r} in bucket {self.bucket!r}")
        file = FillingFile()
        filling = asyncio.create_task(self._fill(info, file), name=f"download {name}")
        try:
            yield file, filling
        finally:
            filling.cancel()
            with contextlib.suppress(asyncio.CancelledError, TransferFailed):
                await filling
            file.close()

    async def _fill(self, info: api.ObjectInfo, file: FillingFile) -> None:
        try:
            digest = hashlib.sha256()
            if info.size:
                # A pull consumer fetching batches: nine times faster here than
                # the ordered push consumer nats-py's own `get` uses (flow control).
                chunks = await self._js.pull_subscribe(
                    OBJ_CHUNKS_PRE_TEMPLATE.format(bucket=self.bucket, obj=info.nuid),
                    stream=OBJ_STREAM_TEMPLATE.format(bucket=self.bucket),
                    config=api.ConsumerConfig(
                        ack_policy=api.AckPolicy.NONE, inactive_threshold=_FETCH_TIMEOUT * 3
                    ),
                )
                try:
                    pending = True
                    while pending:
                        for message in await chunks.fetch(_FETCH_BATCH, timeout=_FETCH_TIMEOUT):
                            file.append(message.data)
                            digest.update(message.data)
                            pending = message.metadata.num_pending > 0
                finally:
                    await chunks.unsubscribe()
            if digest.hexdigest() != _sha256_hex(info.digest):
                raise TransferFailed(f"object {info.name!r} does not match its SHA-256 digest")
        except asyncio.CancelledError:
            file.finish(TransferFailed("the download was stopped"))
            raise
        except TransferFailed as failed:
            file.finish(failed)
            raise
        except Exception as error:  # a NATS failure: the reader must not wait forever
            broken = TransferFailed(f"downloading {info.name!r} failed: {error!r}")
            file.finish(broken)
            raise broken from error
        file.finish()

    async def delete(self, name: str) -> None:
        """Remove an object (no error when it is already gone)."""
        store = await self._bucket()
        with contextlib.suppress(ObjectNotFoundError, NotFoundError):
            await store.delete(name)
