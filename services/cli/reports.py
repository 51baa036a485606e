"""`vigil report --workspace WS`: request a report from the gateway, follow it, save the file.

The command posts the request, polls the report while the reports service
renders it (showing the stage and percent), then streams the file to
``-o FILE`` (default: the name the gateway gives it, in the current folder).
A failed report prints its reason and exits with 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli._gateway import api_token, refusal

__all__ = ("report",)

DEFAULT_URL = "http://127.0.0.1:8000"
_POLL = 0.5
_FORMATS = ("pdf", "html", "markdown", "csv", "json")
_TEMPLATES = ("executive", "technical", "remediation")
_SEVERITIES = ("critical", "high", "medium", "low", "info")
_STATUSES = ("open", "fixed", "reopened", "risk_accepted", "false_positive")


def _follow(client: httpx.Client, console: Console, url: str, timeout: float) -> dict[str, Any]:
    """Poll the report until it is generated or failed, showing its stage and percent."""
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Queued", total=100)
        while True:
            response = client.get(url)
            if response.status_code != 200:
                raise refusal(response)
            report: dict[str, Any] = response.json()
            stage = report.get("stage") or report["status"]
            progress.update(task, description=str(stage).capitalize(), completed=report["percent"])
            if report["status"] in ("generated", "failed"):
                return report
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"The report is still {report['status']} after {timeout:.0f} s; "
                    f"follow it at {client.base_url}{url.lstrip('/')}"
                )
            time.sleep(_POLL)


def _download(client: httpx.Client, url: str, output: Path) -> int:
    written = 0
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            response.read()
            raise refusal(response)
        with output.open("wb") as file:
            for chunk in response.iter_bytes():
                file.write(chunk)
                written += len(chunk)
    return written


@click.command("report")
@click.option("--workspace", "-w", required=True, help="Workspace id to report on.")
@click.option("--format", "format_", type=click.Choice(_FORMATS), default="pdf", show_default=True)
@click.option("--template", type=click.Choice(_TEMPLATES), default="executive", show_default=True)
@click.option("--severity", multiple=True, type=click.Choice(_SEVERITIES), help="Repeatable.")
@click.option("--status", multiple=True, type=click.Choice(_STATUSES), help="Repeatable.")
@click.option("--asset", multiple=True, help="Asset id or key (repeatable).")
@click.option("--title", help="Title on the cover; default: '<workspace>: <template> report'.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File to write."
)
@click.option(
    "--url", envvar="VIGIL_URL", default=DEFAULT_URL, show_default=True, help="Gateway URL."
)
@click.option("--token", envvar="VIGIL_TOKEN", help="API token. Default: `vigil up`'s admin token.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state (and admin token). Default: VIGIL_STATE_DIR or .vigil",
)
@click.option("--timeout", type=float, default=900.0, show_default=True, help="Seconds to wait.")
def report(
    workspace: str,
    format_: str,
    template: str,
    severity: tuple[str, ...],
    status: tuple[str, ...],
    asset: tuple[str, ...],
    title: str | None,
    output: Path | None,
    url: str,
    token: str | None,
    state_dir: Path | None,
    timeout: float,
) -> None:
    """Render a report of a workspace as the log stands now, and save it.

    \b
    Examples:
      vigil report -w acme                                   # executive PDF
      vigil report -w acme --format html --template remediation -o plan.html
      vigil report -w acme --format csv --severity critical --severity high
    """  # noqa: D301 (click needs a real \b before literal blocks)
    console = Console(stderr=True)
    filters: dict[str, list[str]] = {
        key: list(values)
        for key, values in (("severity", severity), ("status", status), ("assets", asset))
        if values
    }
    body: dict[str, Any] = {"format": format_, "template": template, "filters": filters}
    if title:
        body["title"] = title
    headers = {"Authorization": f"Bearer {api_token(token, state_dir)}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        try:
            response = client.post(f"/api/v1/workspaces/{workspace}/reports", json=body)
            if response.status_code != 202:
                raise refusal(response)
            accepted: dict[str, Any] = response.json()
            console.print(
                f"Report {accepted['id']} requested (as of log position {accepted['position']})"
            )
            done = _follow(client, console, accepted["url"], timeout)
            if done["status"] == "failed":
                raise click.ClickException(f"The report failed: {done.get('reason')}")
            target = output or Path(done["filename"])
            size = _download(client, accepted["file_url"], target)
        except httpx.TransportError as exc:
            raise click.ClickException(f"Cannot reach the gateway at {url}: {exc}") from None
    click.echo(f"Wrote {target} ({size:,} bytes, {done['findings']:,} findings)")
