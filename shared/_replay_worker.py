"""Parts of a replay's bulk pass run side by side: part 0 here, the others in worker processes.

A worker is ``python -m shared._replay_worker``. It is started before the
pass is planned: it reads a pickled ``(database URL, projections)`` from
stdin, so that it imports the projections' code and connects while the
replay prepares, then a pickled `PartJob` (or None: not needed after all).
It reports on stdout, one line at a time: ``progress DONE TOTAL`` after each
batch, then ``done {json}`` (events applied, by projection) or ``error
MESSAGE``. Whatever a part writes commits with its own progress row, so a
worker that dies leaves a pass that resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pickle
import sys
from typing import TYPE_CHECKING

from shared._replay_bulk import run_part
from shared.database import connect_pool

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    import asyncpg

    from shared._replay_bulk import PartJob
    from shared.projections import Projection

    Progress = Callable[[int, int], None]

__all__ = ("ReplayWorkerFailed", "Workers", "worker_processes")


class ReplayWorkerFailed(RuntimeError):
    """A worker process failed or died; the message says how."""


class _Board:
    """Every part's progress; the mean goes to the replay's callback."""

    def __init__(self, parts: int, on_progress: Progress | None) -> None:
        self._done, self._total = [0] * parts, [0] * parts
        self._on_progress = on_progress

    def recorder(self, part: int, *, report: bool = False) -> Progress:
        """A part's callback: records its progress, and reports it too if `report`."""

        def record(covered: int, span: int) -> None:
            self._done[part], self._total[part] = covered, span
            if report:
                self.report()

        return record

    def report(self) -> None:
        """Give the callback the parts' mean (positions covered, positions to cover)."""
        if self._on_progress is not None:
            parts = len(self._done)
            self._on_progress(sum(self._done) // parts, sum(self._total) // parts)


class Workers:
    """Worker processes, started and waiting for a part each."""

    def __init__(self, processes: list[asyncio.subprocess.Process]) -> None:
        self._processes = processes

    async def run(
        self, pool: asyncpg.Pool, jobs: list[PartJob], on_progress: Progress | None = None
    ) -> dict[str, int]:
        """Run every part, the first on `pool` and each other in a worker; events applied in all.

        Parts beyond the workers also run here, on `pool` (a replay resumed
        with fewer workers than it started with). `on_progress` gets the
        parts' mean (positions covered, positions to cover), always from the
        caller's task, so that whatever it raises (an interrupt) unwinds
        through here. If any part fails, the others are stopped and its
        error raised.
        """
        board = _Board(len(jobs), on_progress)
        remote = list(zip(jobs[1:], self._processes, strict=False))
        here = [jobs[0], *jobs[1 + len(remote) :]]
        for process in self._processes[len(remote) :]:
            _send(process, None)
        followers = []
        for job, process in remote:
            _send(process, job)
            followers.append(asyncio.ensure_future(_follow(process, board.recorder(job.part))))
        try:
            results = [
                await run_part(pool, job, board.recorder(job.part, report=True)) for job in here
            ]
            waiting = set(followers)
            while waiting:
                _, waiting = await asyncio.wait(waiting, timeout=0.25)
                board.report()
            results += [follower.result() for follower in followers]
        except BaseException:
            for follower in followers:
                follower.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
            raise
        applied: dict[str, int] = {}
        for result in results:
            for name, count in result.items():
                applied[name] = applied.get(name, 0) + count
        return applied


@contextlib.asynccontextmanager
async def worker_processes(
    count: int, database_url: str | None, projections: Sequence[Projection]
) -> AsyncIterator[Workers]:
    """`count` workers for `projections` (none without a URL), stopped on the way out."""
    processes = []
    try:
        for _ in range(count if database_url else 0):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "shared._replay_worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            processes.append(process)
            _send(process, (database_url, list(projections)), close=False)
        yield Workers(processes)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


def _send(process: asyncio.subprocess.Process, message: object, *, close: bool = True) -> None:
    assert process.stdin is not None
    process.stdin.write(pickle.dumps(message))
    if close:
        process.stdin.close()


async def _follow(process: asyncio.subprocess.Process, report: Progress) -> dict[str, int]:
    """Relay a worker's progress until it says it is done; its result."""
    assert process.stdout is not None
    async for line in process.stdout:
        kind, _, rest = line.decode().rstrip("\n").partition(" ")
        if kind == "progress":
            covered, span = rest.split()
            report(int(covered), int(span))
        elif kind == "done":
            applied: dict[str, int] = json.loads(rest)
            return applied
        elif kind == "error":
            raise ReplayWorkerFailed(rest)
    code = await process.wait()
    raise ReplayWorkerFailed(f"a replay worker process exited with code {code}")


async def _work(database_url: str) -> dict[str, int] | None:
    def report(covered: int, span: int) -> None:
        print(f"progress {covered} {span}", flush=True)

    pool = await connect_pool(database_url, min_size=1, max_size=10)
    try:
        job: PartJob | None = await asyncio.to_thread(pickle.load, sys.stdin.buffer)
        return None if job is None else await run_part(pool, job, report)
    finally:
        await pool.close()


def main() -> int:
    """Run the part described on stdin (see the module docstring)."""
    database_url, _ = pickle.load(sys.stdin.buffer)
    try:
        applied = asyncio.run(_work(database_url))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # reported to the parent, which raises it
        print(f"error {type(error).__name__}: {error}", flush=True)
        return 1
    if applied is not None:
        print(f"done {json.dumps(applied)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
