"""The scan object store against a real nats-server."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext

from shared.objectstore import ObjectMissing, ObjectTooLarge, ScanObjectStore


@pytest.fixture
def bucket() -> str:
    return f"vigil-test-{secrets.token_hex(4)}"


@pytest.fixture
async def objects(js: JetStreamContext, bucket: str) -> AsyncIterator[ScanObjectStore]:
    yield ScanObjectStore(js, bucket=bucket, max_bytes=1_000_000, chunk_size=16 * 1024)
    await js.delete_object_store(bucket)


async def pieces(content: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for start in range(0, len(content), size):
        yield content[start : start + size]


async def test_put_then_download_returns_the_same_bytes(objects: ScanObjectStore) -> None:
    content = os.urandom(300_000)
    stored = await objects.put("scan-1", pieces(content))
    assert (stored.size, stored.sha256) == (len(content), hashlib.sha256(content).hexdigest())
    assert await objects.info("scan-1") == stored
    async with objects.download("scan-1") as file:
        assert file.read() == content


async def test_objects_are_readable_by_the_nats_client(
    objects: ScanObjectStore, js: JetStreamContext, bucket: str
) -> None:
    content = os.urandom(50_000)
    await objects.put("scan-2", pieces(content, 333))
    result = await (await js.object_store(bucket)).get("scan-2")
    assert result.data == content


async def test_objects_written_by_the_nats_client_download_too(
    objects: ScanObjectStore, js: JetStreamContext, bucket: str
) -> None:
    content = os.urandom(200_000)
    await objects.put("ours", pieces(b"creates the bucket"))
    await (await js.object_store(bucket)).put("theirs", content)
    async with objects.download("theirs") as file:
        assert file.read() == content


async def test_a_streaming_download_is_read_from_a_thread_while_it_arrives(
    objects: ScanObjectStore,
) -> None:
    content = os.urandom(700_000)  # 43 chunks of 16 KiB
    await objects.put("scan-4", pieces(content))
    async with objects.download_streaming("scan-4") as file:
        head = await asyncio.to_thread(file.read, 1000)
        rest = await asyncio.to_thread(file.read)
        assert head + rest == content
        file.seek(0)
        assert await asyncio.to_thread(file.read, 10) == content[:10]


async def test_a_streaming_download_of_a_missing_object_says_so(objects: ScanObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        async with objects.download_streaming("never-stored"):
            pass


async def test_empty_object(objects: ScanObjectStore) -> None:
    stored = await objects.put("empty", pieces(b""))
    assert stored.size == 0
    async with objects.download("empty") as file:
        assert file.read() == b""


async def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    objects: ScanObjectStore, js: JetStreamContext, bucket: str
) -> None:
    with pytest.raises(ObjectTooLarge, match="upload limit"):
        await objects.put("huge", pieces(b"x" * 1_000_001))
    with pytest.raises(ObjectMissing):
        await objects.info("huge")
    info = await js.stream_info(f"OBJ_{bucket}")
    assert info.state.messages == 0


async def test_put_replaces_and_delete_removes(objects: ScanObjectStore) -> None:
    await objects.put("scan-3", pieces(b"first version"))
    await objects.put("scan-3", pieces(b"second"))
    async with objects.download("scan-3") as file:
        assert file.read() == b"second"
    await objects.delete("scan-3")
    await objects.delete("scan-3")
    with pytest.raises(ObjectMissing):
        async with objects.download("scan-3"):
            pass


async def test_missing_object(objects: ScanObjectStore) -> None:
    with pytest.raises(ObjectMissing):
        await objects.info("never-stored")
