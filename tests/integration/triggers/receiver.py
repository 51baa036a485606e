"""A real HTTP receiver for webhook tests: asyncio.start_server on a free loopback port.

Each path answers as its name says: ``/ok/...`` 200, ``/fail/...`` 500, ``/slow/...``
only after `slow_seconds` (longer than the tests' webhook timeouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time


@dataclasses.dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, slow_seconds: float = 3.0) -> None:
        self.requests: list[Received] = []
        self.slow_seconds = slow_seconds
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, prefix: str) -> list[Received]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    async def wait_for(self, prefix: str, count: int, within: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + within
        while len(received := self.on(prefix)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(received)} of {count} requests on {prefix}")
            await asyncio.sleep(0.02)
        return received

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(path, headers, body))
            status = "200 OK"
            if path.startswith("/fail"):
                status = "500 Internal Server Error"
            elif path.startswith("/slow"):
                await asyncio.sleep(self.slow_seconds)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
