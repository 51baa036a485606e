"""(b) Commit-to-WebSocket latency at 1,000 events/s with 50 subscribed clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import sys
import time

import httpx
import msgspec
import websockets

from bench.harness import Figure, report
from services.api.tokens import Role, create_token
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.support.events import notes

CLIENTS = 50
RATE = 1000
SECONDS = 8
BATCH = 10


class _Position(msgspec.Struct):
    position: int


_decode = msgspec.json.Decoder(_Position).decode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_api(settings: Settings, port: int) -> asyncio.subprocess.Process:
    assert settings.nats_url
    assert settings.database_url
    env = {
        **os.environ,
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_DATABASE_URL": settings.database_url,
        "VIGIL_STREAM_NAME": settings.stream_name,
        "VIGIL_SUBJECT_PREFIX": settings.subject_prefix,
        "VIGIL_LOG_LEVEL": "warning",
        "VIGIL_LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "serve", "api", "--port", str(port), env=env
    )
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the api did not become ready")


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    pool = await connect_pool(settings.database_url, max_size=4)
    store = EventStore(pool)
    port = _free_port()
    api = await _start_api(settings, port)
    async with pool.acquire() as conn:
        token = await create_token(conn, name="bench", role=Role.ADMIN)
    workspace = "bench-ws"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        created = await http.post(
            f"http://127.0.0.1:{port}/api/v1/workspaces", json={"id": workspace, "name": "bench"}
        )
        created.raise_for_status()
    committed: dict[int, float] = {}
    received: list[list[tuple[int, float]]] = [[] for _ in range(CLIENTS)]
    total = RATE * SECONDS

    async def client(index: int, ready: asyncio.Event, connected: list[int]) -> None:
        url = f"ws://127.0.0.1:{port}/api/v1/stream?workspace={workspace}&types=TestNoteTaken"
        async with websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None
        ) as ws:
            connected.append(index)
            if len(connected) == CLIENTS:
                ready.set()
            while len(received[index]) < total:
                message = await ws.recv()
                at = time.perf_counter()
                lines = message.splitlines()  # a frame holds one or more events
                received[index].extend((_decode(line).position, at) for line in lines)

    ready = asyncio.Event()
    connected: list[int] = []
    clients = [asyncio.create_task(client(i, ready, connected)) for i in range(CLIENTS)]
    await asyncio.wait_for(
        asyncio.wait(
            [asyncio.ensure_future(ready.wait()), *clients], return_when="FIRST_COMPLETED"
        ),
        60,
    )
    for task in clients:
        if task.done():
            task.result()
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    for tick in range(total // BATCH):
        due = started + tick * BATCH / RATE
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        recorded = await store.append_to_stream(f"lat-{tick % 20}", workspace, notes(BATCH))
        now = time.perf_counter()
        for event in recorded:
            committed[event.position] = now
    await asyncio.wait_for(asyncio.gather(*clients), 60)
    latencies = sorted(
        (at - committed[position]) * 1000 for samples in received for position, at in samples
    )
    api.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(api.wait(), 15)
    except TimeoutError:
        api.kill()
        await api.wait()
    await pool.close()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99)]
    return [
        report(Figure(f"commit -> WebSocket p50 ({CLIENTS} clients, {RATE}/s)", p50, "ms")),
        report(
            Figure(
                f"commit -> WebSocket p99 ({CLIENTS} clients, {RATE}/s)",
                p99,
                "ms",
                ceiling=50.0,
                target="p99 < 50 ms",
                meets=p99 < 50.0,
            )
        ),
    ]
