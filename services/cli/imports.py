"""`vigil import FILE --workspace WS`: upload a scan to the gateway and follow its import.

The file is streamed (never read whole) as multipart/form-data with a
progress bar; the command then polls the scan until the ingest service has
applied or failed it, showing parse progress, and prints what the import
found and changed. A failed import prints its reason and exits with 1.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from services.cli._gateway import api_token, refusal

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ("import_scan",)

DEFAULT_URL = "http://127.0.0.1:8000"
_CHUNK = 256 * 1024
_POLL = 0.5


class _Multipart:
    """A multipart/form-data body of text fields and one file, produced as it is sent."""

    def __init__(self, path: Path, fields: dict[str, str]) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.boundary = f"vigil-{secrets.token_hex(16)}"
        filename = path.name.replace('"', "%22").replace("\r", "").replace("\n", "")
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
            for name, value in fields.items()
        )
        self._head = (
            head
            + (
                f"--{self.boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def headers(self) -> dict[str, str]:
        """Content type and exact length, so the gateway can refuse an oversized file at once."""
        length = len(self._head) + self.size + len(self._tail)
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(length),
        }

    def chunks(self, progress: Progress, task: Any) -> Iterator[bytes]:
        """The body, advancing `task` of `progress` by each piece of the file sent."""
        yield self._head
        with self.path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                yield chunk
                progress.advance(task, len(chunk))
        yield self._tail


def _upload(
    client: httpx.Client, console: Console, path: Path, workspace: str, fields: dict[str, str]
) -> dict[str, Any]:
    body = _Multipart(path, fields)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"Uploading {path.name}", total=body.size)
        response = client.post(
            f"/api/v1/workspaces/{workspace}/scans",
            content=body.chunks(progress, task),
            headers=body.headers,
        )
    if response.status_code != 202:
        raise refusal(response)
    accepted: dict[str, Any] = response.json()
    return accepted


def _follow(client: httpx.Client, console: Console, url: str, timeout: float) -> dict[str, Any]:
    """Poll the scan until it is applied or failed, showing parse progress."""
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[items]:,} items"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("Queued", total=None, items=0)
        while True:
            response = client.get(url)
            if response.status_code != 200:
                raise refusal(response)
            scan: dict[str, Any] = response.json()
            done = scan["progress"]
            progress.update(
                task,
                description=str(scan["status"]).capitalize(),
                total=done["total_bytes"] or None,
                completed=done["bytes_read"],
                items=done["items"],
            )
            if scan["status"] in ("applied", "failed"):
                return scan
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"The scan is still {scan['status']} after {timeout:.0f} s; "
                    f"follow it at {client.base_url}{url.lstrip('/')}"
                )
            time.sleep(_POLL)


def _report(scan: dict[str, Any]) -> None:
    counts = scan["counts"]
    click.echo(
        f"Scan {scan['id']} applied: {scan['filename']} as {scan['format']} "
        f"(scanner {scan['scanner']})"
    )
    if scan.get("duplicate_of"):
        click.echo(
            f"Identical content was already imported as scan {scan['duplicate_of']}; "
            "nothing changed."
        )
        return
    click.echo(
        f"  hosts {counts['hosts']}, services {counts['services']}, findings {counts['findings']}"
    )
    click.echo(
        f"  findings: {counts['findings_new']} new, {counts['findings_observed']} seen again, "
        f"{counts['findings_reopened']} reopened, {counts['findings_closed']} closed, "
        f"{counts['findings_unchanged']} unchanged; {counts['duplicates']} duplicates merged"
    )


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--workspace", "-w", required=True, help="Workspace id to import into.")
@click.option("--format", "format_hint", help="Parser format name; default: detect from content.")
@click.option("--scanner", help="Scanner name to record instead of the format's default.")
@click.option("--scope", help="Scope tag: a later scan with the same tag may close findings.")
@click.option("--no-wait", is_flag=True, help="Return once uploaded; do not follow the import.")
@click.option(
    "--url", envvar="VIGIL_URL", default=DEFAULT_URL, show_default=True, help="Gateway URL."
)
@click.option("--token", envvar="VIGIL_TOKEN", help="API token. Default: `vigil up`'s admin token.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where `vigil up` keeps its state (and admin token). Default: VIGIL_STATE_DIR or .vigil",
)
@click.option("--timeout", type=float, default=3600.0, show_default=True, help="Seconds to wait.")
def import_scan(
    file: Path,
    workspace: str,
    format_hint: str | None,
    scanner: str | None,
    scope: str | None,
    no_wait: bool,
    url: str,
    token: str | None,
    state_dir: Path | None,
    timeout: float,
) -> None:
    """Import a scanner's output FILE into a workspace and wait for the result.

    The format is detected from the content (nmap, Nessus, OpenVAS, Burp, ZAP,
    Nuclei, Trivy, Grype, SARIF, ...). Progress goes to stderr; the outcome to
    stdout. Exits with 1 when the import fails, printing the reason.

    \b
    Examples:
      vigil import scan.xml --workspace acme
      vigil import results.nessus -w acme --scope weekly-dmz
      VIGIL_URL=https://vigil.example VIGIL_TOKEN=vgl_... vigil import out.sarif -w acme
    """  # noqa: D301 (click needs a real \b before literal blocks)
    fields = {"format": format_hint, "scanner": scanner, "scope": scope}
    given = {name: value for name, value in fields.items() if value}
    console = Console(stderr=True)
    headers = {"Authorization": f"Bearer {api_token(token, state_dir)}"}
    http_timeout = httpx.Timeout(60.0, connect=10.0)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=http_timeout) as client:
            accepted = _upload(client, console, file, workspace, given)
            if no_wait:
                click.echo(f"Scan {accepted['id']} queued: {url.rstrip('/')}{accepted['url']}")
                return
            scan = _follow(client, console, accepted["url"], timeout)
    except httpx.HTTPError as error:
        raise click.ClickException(
            f"Cannot talk to the vigil gateway at {url} ({error}). Is it running "
            "(`vigil up`)? Point --url or VIGIL_URL at it."
        ) from None
    if scan["status"] == "failed":
        click.echo(f"Import of {file.name} failed: {scan['reason']}", err=True)
        raise click.exceptions.Exit(1)
    _report(scan)
