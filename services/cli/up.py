"""`vigil up`: the whole platform on this machine, supervised, until Ctrl-C."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

import click
import msgspec
from rich.console import Console

from services.cli._admin_token import TOKEN_FILE, prepare_database
from services.cli._plan import parse_scale, plan_children
from services.cli._runfile import (
    RunRecord,
    SupervisedProcess,
    read_run_record,
    remove_run_record,
    write_run_record,
)
from services.cli._servers import load_settings, redact
from services.cli._supervisor import Child, StartupFailed, Supervisor
from services.cli.catalog import GATEWAY
from shared.embedded import EmbeddedServerError, EmbeddedServers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from shared.settings import Settings

READY_TIMEOUT = 120.0
_ANY_ADDRESS = ("0.0.0.0", "::", "")


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP set one event instead of raising wherever they land."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @contextlib.contextmanager
    def installed(self) -> Iterator[threading.Event]:
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        original = {sig: signal.signal(sig, self._handle) for sig in handled}
        try:
            yield self.event
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def _handle(self, _sig: int, _frame: object) -> None:
        self.event.set()


@contextlib.contextmanager
def _only_instance(state_dir: Path) -> Iterator[None]:
    """Hold ``up.lock`` for as long as this `vigil up` runs; the kernel frees it if we die."""
    state_dir.mkdir(parents=True, exist_ok=True)
    lock: IO[str] = open(state_dir / "up.lock", "a+")  # noqa: SIM115 (held for the whole run)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = read_run_record(state_dir)
            who = f" (pid {record.supervisor_pid})" if record else ""
            raise click.ClickException(
                f"vigil up is already running for {state_dir}{who}. "
                "See it with `vigil status`; stop it with Ctrl-C in its terminal."
            ) from None
        yield
    finally:
        lock.close()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _url_host(host: str) -> str:
    if host in _ANY_ADDRESS:
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _start_servers(
    settings: Settings, state_dir: Path, console: Console
) -> tuple[Settings, EmbeddedServers | None]:
    """The servers named by the environment, or this folder's embedded ones (started if need be)."""
    if settings.nats_url and settings.database_url:
        console.print(
            f"Using NATS {redact(settings.nats_url)} and PostgreSQL "
            f"{redact(settings.database_url)} (from VIGIL_NATS_URL / VIGIL_DATABASE_URL)"
        )
        return settings, None
    embedded = EmbeddedServers(state_dir)
    with console.status("Starting embedded NATS and PostgreSQL (the first run also creates them)"):
        try:
            addresses = embedded.start()
        except EmbeddedServerError as error:
            raise click.ClickException(str(error)) from None
    console.print(
        f"[green]✓[/] embedded NATS {addresses.nats_url} and PostgreSQL "
        f"{addresses.database_url} (data in {state_dir})"
    )
    return (
        settings.with_servers(
            settings.nats_url or addresses.nats_url,
            settings.database_url or addresses.database_url,
        ),
        embedded,
    )


def _child_env(settings: Settings, state_dir: Path) -> dict[str, str]:
    assert settings.nats_url
    assert settings.database_url
    return {
        **os.environ,
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_DATABASE_URL": settings.database_url,
        "VIGIL_STATE_DIR": str(state_dir),
    }


def _banner(gateway_url: str | None, token: str, state_dir: Path, children: list[Child]) -> None:
    out = Console(highlight=False, soft_wrap=True)

    def line(label: str, value: str) -> None:
        out.print(f"  {label:<12} ", style="bold", end="")
        out.print(value, markup=False)

    out.print()
    out.print("vigil is up", style="bold green")
    if gateway_url:
        line("Gateway", gateway_url)
        line("OpenAPI", f"{gateway_url}/schema/openapi.json (send the token)")
    line("Admin token", token)
    line("", f"(kept in {state_dir / TOKEN_FILE}; more with `vigil token create`)")
    line("Services", ", ".join(f"{child.name} :{child.port}" for child in children))
    line("Logs", f"{state_dir / 'logs'}/")
    if gateway_url:
        line(
            "Try",
            f'curl -H "Authorization: Bearer $(cat {state_dir / TOKEN_FILE})" '
            f"{gateway_url}/api/v1/workspaces",
        )
    out.print()
    out.print("Press Ctrl-C to stop.")
    out.file.flush()


def _wait_until_ready(supervisor: Supervisor, stop: threading.Event, console: Console) -> bool:
    names = ", ".join(f"{child.name} (port {child.port})" for child in supervisor.children)
    console.print(f"Starting {names}; waiting for each to answer /ready")
    with console.status("Waiting for the services") as status:

        def progress(waiting: list[Child]) -> None:
            pending = ", ".join(f"{child.name} (:{child.port})" for child in waiting)
            status.update(f"Waiting for /ready from {pending}")

        try:
            return supervisor.wait_ready(stop, READY_TIMEOUT, progress)
        except StartupFailed as failure:
            log = failure.child.log
            raise click.ClickException(f"{failure}. Last lines of {log}:\n{_tail(log)}") from None


def _run(
    settings: Settings,
    scale: dict[str, int],
    port: int,
    console: Console,
    stop: threading.Event,
) -> None:
    state_dir = settings.state_dir
    embedded: EmbeddedServers | None = None
    supervisor: Supervisor | None = None
    try:
        settings, embedded = _start_servers(settings, state_dir, console)
        assert settings.database_url
        with console.status("Applying migrations, checking the admin token"):
            token = prepare_database(settings.database_url, state_dir)
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        host = settings.http_host
        children = plan_children(scale, port, host, state_dir / "logs")
        gateway_url = f"http://{_url_host(host)}:{port}" if scale.get(GATEWAY) else None

        def record() -> None:
            processes = [
                SupervisedProcess(
                    pid=c.pid,
                    service=c.service,
                    replica=c.replica,
                    port=c.port,
                    restarts=c.restarts,
                )
                for c in children
            ]
            write_run_record(
                state_dir,
                RunRecord(
                    supervisor_pid=os.getpid(),
                    gateway_url=gateway_url,
                    embedded=embedded is not None,
                    logs=str(state_dir / "logs"),
                    processes=processes,
                ),
            )

        supervisor = Supervisor(
            children,
            env=_child_env(settings, state_dir),
            probe_host=_url_host(host).strip("[]"),
            console=console,
            on_change=record,
        )
        if stop.is_set():
            return
        supervisor.start()
        if not _wait_until_ready(supervisor, stop, console):
            return
        _banner(gateway_url, token, state_dir, children)
        supervisor.watch(stop)
    finally:
        _shut_down(console, state_dir, supervisor, embedded)


def _shut_down(
    console: Console,
    state_dir: Path,
    supervisor: Supervisor | None,
    embedded: EmbeddedServers | None,
) -> None:
    if supervisor is not None:
        with console.status("Stopping the services"):
            supervisor.stop()
        console.print("[green]✓[/] services stopped")
    remove_run_record(state_dir)
    if embedded is not None:
        with console.status("Stopping the embedded servers"):
            embedded.stop()
        console.print("[green]✓[/] embedded servers stopped (those this run started)")


@click.command()
@click.option(
    "--scale",
    "scale_specs",
    multiple=True,
    metavar="SERVICE=N[,...]",
    help="Replicas per service, e.g. api=2,ingest=3 (default: 1 of each; 0 leaves one out).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Gateway port; further replicas take the next ones. Default: VIGIL_HTTP_PORT or 8000.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Holds server data, logs, run.json, the admin token. Default: VIGIL_STATE_DIR or .vigil",
)
def up(scale_specs: tuple[str, ...], port: int | None, state_dir: Path | None) -> None:
    """Run the whole platform here until Ctrl-C (what `make run` does).

    Starts embedded NATS and PostgreSQL under the state folder (unless
    VIGIL_NATS_URL and VIGIL_DATABASE_URL are both set), applies migrations,
    makes sure an admin token exists, starts every service, waits until each
    answers /ready, and restarts any that dies. Ctrl-C stops it all.

    \b
    Examples:
      vigil up                           # gateway on http://127.0.0.1:8000
      vigil up --scale api=2             # api on :8000 and :8001
      vigil up --port 9000 --state-dir /tmp/vigil-demo
    """  # noqa: D301 (click needs a real \b before literal blocks)
    settings = load_settings(state_dir)
    settings = msgspec.structs.replace(settings, state_dir=settings.state_dir.absolute())
    scale = parse_scale(scale_specs)
    console = Console(stderr=True, highlight=False, soft_wrap=True, log_path=False)
    with _only_instance(settings.state_dir), _StopSignals().installed() as stop:
        _run(settings, scale, port or settings.http_port, console, stop)
