"""What `vigil up` runs: replicas per service (``--scale``) and the port of each."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import click

from services.cli._supervisor import Child
from services.cli.catalog import GATEWAY, SERVICES

if TYPE_CHECKING:
    from pathlib import Path


def parse_scale(specs: tuple[str, ...]) -> dict[str, int]:
    """``("api=2,ingest=3",)`` -> replicas per catalog service (1 for those not named)."""
    scale = dict.fromkeys(SERVICES, 1)
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, count = item.partition("=")
            if not sep or not count.strip().isdigit():
                raise click.BadParameter(f"{item!r} is not SERVICE=N", param_hint="--scale")
            if name.strip() not in SERVICES:
                known = ", ".join(SERVICES)
                raise click.BadParameter(
                    f"unknown service {name.strip()!r} (known: {known})", param_hint="--scale"
                )
            scale[name.strip()] = int(count)
    if not any(scale.values()):
        raise click.BadParameter(
            "nothing to run: every service is scaled to 0", param_hint="--scale"
        )
    return scale


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def plan_children(scale: dict[str, int], port: int, host: str, logs: Path) -> list[Child]:
    """The replicas to run: gateway replicas on consecutive ports from `port`, others anywhere."""
    children = []
    for service, count in scale.items():
        for replica in range(1, count + 1):
            if service == GATEWAY:
                child_port = port + replica - 1
                if not _port_is_free(host, child_port):
                    raise click.ClickException(
                        f"Port {child_port} on {host} is in use; pick another with --port."
                    )
            else:
                child_port = _free_port(host)
            children.append(Child(service, replica, child_port, logs / f"{service}-{replica}.log"))
    return children
