"""``<state_dir>/run.json``: what `vigil up` is supervising, for `vigil status` and tests."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pathlib import Path

RUN_FILE = "run.json"


class SupervisedProcess(msgspec.Struct, frozen=True, kw_only=True):
    """One service replica as last started."""

    pid: int
    service: str
    replica: int
    port: int
    restarts: int = 0


class RunRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The running `vigil up`: its own pid, where the gateway listens, and its children."""

    supervisor_pid: int
    gateway_url: str | None
    embedded: bool
    logs: str
    processes: list[SupervisedProcess]


def write_run_record(state_dir: Path, record: RunRecord) -> None:
    """Replace the record atomically, so a reader never sees half a file."""
    path = state_dir / RUN_FILE
    scratch = path.with_suffix(".json.tmp")
    scratch.write_bytes(msgspec.json.format(msgspec.json.encode(record)))
    os.replace(scratch, path)


def read_run_record(state_dir: Path) -> RunRecord | None:
    """The record of this folder's `vigil up`, if one was written and is readable."""
    try:
        return msgspec.json.decode((state_dir / RUN_FILE).read_bytes(), type=RunRecord)
    except (OSError, msgspec.DecodeError):
        return None


def remove_run_record(state_dir: Path) -> None:
    """Forget the record (when `vigil up` stops)."""
    with contextlib.suppress(FileNotFoundError):
        (state_dir / RUN_FILE).unlink()
