"""`vigil replay`: rebuild read models from the log, live, with a progress bar."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from services.cli._servers import find_servers, load_settings, redact
from shared.database import connect_pool
from shared.migrations import apply_migrations
from shared.projections import Projection
from shared.replay import Replayer, ReplayError

if TYPE_CHECKING:
    from rich.progress import Task

    from shared.replay import ReplayReport

__all__ = ("PROJECTION_SOURCES", "known_projections", "replay")

PROJECTION_SOURCES: dict[str, str] = {
    "api": "services.api.dependencies:projections",
    "ingest": "services.ingest.projections:ingest_projections",
    "stats": "services.stats.projections:stats_projections",
    "reports": "services.reports.projections:report_projections",
    "triggers": "services.triggers.projections:trigger_projections",
}
"""Where each service lists its read models; services not built yet are skipped."""


def _service_projections(service: str, source: str) -> list[Projection]:
    module_name, _, factory = source.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            return []
        raise
    make = getattr(module, factory, None)
    if make is not None:
        return list(make())
    return [
        cls()
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Projection)
        and not inspect.isabstract(cls)
        and cls.__module__ == module_name
    ]


def known_projections() -> dict[str, tuple[str, Projection]]:
    """Every read model of every service, by name: (owning service, projection)."""
    found: dict[str, tuple[str, Projection]] = {}
    for service, source in PROJECTION_SOURCES.items():
        for projection in _service_projections(service, source):
            found[projection.name] = (service, projection)
    return found


class _RateColumn(ProgressColumn):
    """Events per second, as rich measures the task's speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:>10,.0f} events/s" if speed else "           events/s")


def _choose(names: tuple[str, ...], everything: bool) -> tuple[list[Projection], set[str]]:
    catalog = known_projections()
    if everything == bool(names):
        raise click.UsageError("Name the projections to replay, or pass --all (not both).")
    chosen = list(catalog) if everything else list(names)
    unknown = [name for name in chosen if name not in catalog]
    if unknown:
        raise click.BadParameter(
            f"unknown projection(s) {', '.join(unknown)}; known: {', '.join(sorted(catalog))}",
            param_hint="PROJECTION",
        )
    return [catalog[name][1] for name in chosen], {catalog[name][0] for name in chosen}


async def _migrate(pool: asyncpg.Pool, services: set[str]) -> None:
    async with pool.acquire() as conn:
        for service in sorted(services):
            package = f"services.{service}"
            if (resources.files(package) / "schema").is_dir():
                await apply_migrations(conn, service, package)


def _print_reports(out: Console, reports: list[ReplayReport], dry_run: bool) -> None:
    for report in reports:
        if not dry_run:
            resumed = (
                f", resumed from position {report.resumed_from}"
                if report.resumed_from is not None
                else ""
            )
            out.print(
                f"{report.projection}: rebuilt and swapped in at position {report.position}"
                f" ({report.events:,} events applied{resumed})"
            )
            continue
        verdict = "matches the live model" if report.matches else "DIFFERS from the live model"
        out.print(f"{report.projection}: a rebuild {verdict} (at its checkpoints)")
        if report.matches:
            continue
        table = Table("table", "only live", "only rebuilt", "examples")
        for diff in report.diffs:
            examples = "\n".join(
                [f"live:    {s[:150]}" for s in diff.live_samples]
                + [f"rebuilt: {s[:150]}" for s in diff.rebuilt_samples]
            )
            table.add_row(diff.table, str(diff.only_live), str(diff.only_rebuilt), examples)
        out.print(table)


@click.command()
@click.argument("projections", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Replay every read model of every service.")
@click.option(
    "--from",
    "from_position",
    type=click.IntRange(min=0),
    help="Start afresh and apply only the events after this position (default: resume an "
    "interrupted replay, else the whole log).",
)
@click.option(
    "--dry-run", is_flag=True, help="Compare a rebuild with the live model; change nothing."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Processes that rebuild side by side, each taking a share of the workspaces.",
)
@click.option("--list", "list_only", is_flag=True, help="List the known projections and exit.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state. Default: VIGIL_STATE_DIR or .vigil",
)
def replay(
    projections: tuple[str, ...],
    everything: bool,
    from_position: int | None,
    dry_run: bool,
    workers: int,
    list_only: bool,
    state_dir: Path | None,
) -> None:
    """Rebuild read models (PROJECTION names or --all) from the event log.

    The rebuild goes into shadow tables while the live model keeps serving;
    the shadow then catches up and is swapped in atomically together with its
    checkpoints. Workspaces are shared out among --workers processes, so a
    log of many workspaces rebuilds on every core. Interrupting (Ctrl-C) is
    safe: run the same command again to resume. --dry-run rebuilds into
    throw-away tables up to where the live model is and reports the rows
    that differ (exit code 1 if any).

    \b
    Examples:
      vigil replay --list
      vigil replay ingest.inventory
      vigil replay --all
      vigil replay --all --dry-run
      vigil replay ingest.scans --from 0        # start over, ignoring an interrupted run
    """  # noqa: D301 (click needs a real \b before literal blocks)
    out = Console(highlight=False, soft_wrap=True)
    if list_only:
        for name, (service, _) in sorted(known_projections().items()):
            out.print(f"{name:<28} ({service})")
        return
    chosen, services = _choose(projections, everything)
    settings = find_servers(load_settings(state_dir))
    assert settings.database_url
    if dry_run and from_position is not None:
        raise click.UsageError("--from and --dry-run do not go together.")

    async def run(progress: Progress) -> list[ReplayReport]:
        assert settings.database_url
        pool = await connect_pool(settings.database_url, min_size=1, max_size=6)
        try:
            await _migrate(pool, services)
            replayer = Replayer(pool, chosen, workers=workers, database_url=settings.database_url)
            task = progress.add_task("rebuilding", total=None)

            def advance(what: str, done: int, total: int) -> None:
                progress.update(task, description=what, completed=done, total=total)

            if dry_run:
                return await replayer.dry_run(on_progress=advance)
            return await replayer.rebuild(from_position=from_position, on_progress=advance)
        finally:
            await pool.close()

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            reports = asyncio.run(run(progress))
    except KeyboardInterrupt:
        raise click.ClickException(
            "Interrupted. The rebuild so far is kept: run the same command again to resume."
        ) from None
    except ReplayError as error:
        raise click.ClickException(str(error)) from None
    except (OSError, asyncpg.PostgresError) as error:
        raise click.ClickException(
            f"PostgreSQL at {redact(settings.database_url)} failed: {error}"
        ) from None
    _print_reports(out, reports, dry_run)
    if dry_run and not all(report.matches for report in reports):
        raise SystemExit(1)
