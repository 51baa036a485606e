"""`vigil serve SERVICE`: one service process under uvicorn, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

import click
import uvicorn

from services.cli._servers import find_servers, load_settings
from services.cli.catalog import GATEWAY, SERVICES, load_app_factory
from shared.telemetry import configure_logging

if TYPE_CHECKING:
    from collections.abc import Iterator

SUPERVISOR_PID_ENV = "VIGIL_SUPERVISOR_PID"
"""Set by `vigil up` in its children, so that they stop when it dies."""
_PR_SET_DEATHSIG = 1


class _StartupFailed(click.ClickException):
    """The app's lifespan failed (servers unreachable, a migration failed, ...)."""

    exit_code = 3


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the stop signal after a graceful shutdown.

    uvicorn re-delivers SIGTERM/SIGINT to itself once it has shut down, which
    would end the process with -15 or click's "Aborted!". A graceful stop
    is a success here: the process exits 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {error.strerror}. "
            "Pick another port with --port (or VIGIL_HTTP_PORT)."
        ) from None
    listener.set_inheritable(True)
    return listener


def _die_with_supervisor() -> None:
    """Under `vigil up`, ask Linux to SIGTERM this process when the supervisor dies."""
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if not supervisor or not sys.platform.startswith("linux"):
        return
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_DEATHSIG, signal.SIGTERM)
    if str(os.getppid()) != supervisor:
        raise SystemExit("vigil up, which started this process, is gone")


@click.command()
@click.argument("service", type=click.Choice(list(SERVICES)), metavar="SERVICE")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"Port to listen on. Default: VIGIL_HTTP_PORT (8000) for {GATEWAY}, a free one otherwise.",
)
@click.option("--host", help="Address to listen on. Default: VIGIL_HTTP_HOST (127.0.0.1).")
def serve(service: str, port: int | None, host: str | None) -> None:
    """Run one SERVICE process (what `vigil up` starts for each replica).

    The process finds the servers from VIGIL_NATS_URL / VIGIL_DATABASE_URL or
    the running embedded ones of this folder, applies its migrations, serves
    /health, /ready and /metrics, and shuts down gracefully on SIGTERM or
    Ctrl-C (exit code 0).

    \b
    Examples:
      vigil serve api                      # the gateway on 127.0.0.1:8000
      vigil serve api --port 8001 --host 0.0.0.0
      VIGIL_NATS_URL=nats://nats:4222 VIGIL_DATABASE_URL=postgresql://... vigil serve api
    """  # noqa: D301 (click needs a real \b before literal blocks)
    _die_with_supervisor()
    settings = find_servers(load_settings())
    host = host or settings.http_host
    if port is None:
        port = settings.http_port if service == GATEWAY else 0
    listener = _bind(host, port)
    configure_logging(settings)
    app = load_app_factory(service)(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=listener.getsockname()[1],
        lifespan="on",
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        # Event frames are small JSON: compressing each one cost the gateway a quarter
        # of its CPU at 50,000 frames/s, for bytes that loopback or a LAN carry anyway.
        ws_per_message_deflate=False,
    )
    server = _Server(config)
    server.run(sockets=[listener])
    if not server.started:
        raise _StartupFailed(f"{service} did not start: see the error logged above.")
