"""`vigil trigger ...`: define, list, enable and disable triggers, and see their firings.

Every command talks to the gateway over HTTP, with the token of ``--token``
/ ``VIGIL_TOKEN`` or the admin token `vigil up` keeps in its state folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import httpx
from rich.console import Console
from rich.table import Table

from services.cli._gateway import api_token

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("trigger",)

DEFAULT_URL = "http://127.0.0.1:8000"
F = TypeVar("F", bound="Callable[..., Any]")


def _connection(command: F) -> F:
    """The options every trigger command shares: where the gateway is and who asks."""
    for option in reversed(
        [
            click.option("--workspace", "-w", required=True, help="Workspace id."),
            click.option(
                "--url",
                envvar="VIGIL_URL",
                default=DEFAULT_URL,
                show_default=True,
                help="Gateway URL.",
            ),
            click.option(
                "--token",
                envvar="VIGIL_TOKEN",
                help="API token. Default: `vigil up`'s admin token.",
            ),
            click.option(
                "--state-dir",
                type=click.Path(file_okay=False, path_type=Path),
                help="Where `vigil up` keeps its admin token. Default: VIGIL_STATE_DIR or .vigil",
            ),
        ]
    ):
        command = option(command)
    return command


def _call(
    method: str, path: str, url: str, token: str | None, state_dir: Path | None, **kwargs: Any
) -> Any:
    """One request to the gateway; a problem answer becomes a CLI error with its detail."""
    headers = {"Authorization": f"Bearer {api_token(token, state_dir)}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30.0) as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as error:
        raise click.ClickException(
            f"Cannot talk to the vigil gateway at {url} ({error}). Is it running "
            "(`vigil up`)? Point --url or VIGIL_URL at it."
        ) from None
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        raise click.ClickException(f"{response.status_code}: {detail}")
    return response.json() if response.content else None


def _base(workspace: str) -> str:
    return f"/api/v1/workspaces/{workspace}/triggers"


def _action(
    webhook: str | None, secret: str | None, report: str | None, publish: str | None
) -> dict[str, Any]:
    chosen = [a for a in (webhook, report, publish) if a]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one action: --webhook, --report or --publish.")
    if webhook:
        if not secret:
            raise click.UsageError("--webhook needs --secret (at least 16 characters).")
        return {"type": "webhook", "url": webhook, "secret": secret}
    if report:
        format_, _, template = report.partition(":")
        return {"type": "report", "format": format_, "template": template or "executive"}
    return {"type": "publish", "subject": publish}


@click.group()
def trigger() -> None:
    """Automation: schedules, event conditions and thresholds that run an action."""


@trigger.command("create")
@_connection
@click.option("--name", required=True, help="What the trigger is for.")
@click.option("--every", type=int, help="Schedule: every N seconds.")
@click.option("--cron", help="Schedule: a cron expression, e.g. '0 8 * * 1'.")
@click.option("--timezone", default="UTC", show_default=True, help="Time zone of --cron.")
@click.option(
    "--misfire",
    type=click.Choice(["skip", "fire_once"]),
    default="skip",
    show_default=True,
    help="Ticks missed while nothing ran: skip them, or fire once.",
)
@click.option("--on", "event_types", help="Event trigger: comma-separated types, 'Finding*'.")
@click.option("--condition", help='Event trigger: e.g. \'severity in ["high", "critical"]\'.')
@click.option("--webhook", help="Action: POST the firing to this URL.")
@click.option("--secret", help="The webhook's HMAC secret.")
@click.option("--report", help="Action: request a report, FORMAT[:TEMPLATE], e.g. pdf:executive.")
@click.option("--publish", help="Action: publish the firing on this NATS subject.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@click.option(
    "--json",
    "body_file",
    type=click.File("r"),
    help="Instead of the options: the whole creation body as JSON ('-' for stdin).",
)
def create(
    workspace: str,
    url: str,
    token: str | None,
    state_dir: Path | None,
    name: str,
    every: int | None,
    cron: str | None,
    timezone: str,
    misfire: str,
    event_types: str | None,
    condition: str | None,
    webhook: str | None,
    secret: str | None,
    report: str | None,
    publish: str | None,
    disabled: bool,
    body_file: Any,
) -> None:
    """Create a trigger and print its id.

    \b
    Examples:
      vigil trigger create -w acme --name soc --on FindingDetected,FindingReopened
          --condition 'severity in ["high", "critical"]'
          --webhook https://soc.example/hook --secret "$SECRET"
      vigil trigger create -w acme --name weekly --cron '0 8 * * 1'
          --timezone Europe/Paris --report pdf:executive
    """  # noqa: D301 (click needs a real \b before literal blocks)
    if body_file is not None:
        body: dict[str, Any] = json.load(body_file)
        body.setdefault("name", name)
    else:
        body = {"name": name, "action": _action(webhook, secret, report, publish)}
        if event_types:
            body |= {"kind": "event", "event_types": event_types.split(",")}
            if condition:
                body["condition"] = condition
        elif every or cron:
            body |= {"kind": "schedule", "misfire": misfire}
            body |= {"every_seconds": every} if every else {"cron": cron, "timezone": timezone}
        else:
            raise click.UsageError("Say when it fires: --every, --cron or --on (or use --json).")
        body["enabled"] = not disabled
    created = _call("POST", _base(workspace), url, token, state_dir, json=body)
    click.echo(created["id"])


@trigger.command("list")
@_connection
def list_triggers(workspace: str, url: str, token: str | None, state_dir: Path | None) -> None:
    """List the workspace's triggers."""
    found = _call("GET", _base(workspace), url, token, state_dir)["triggers"]
    table = Table(
        "id", "name", "kind", "when", "action", "enabled", title=f"Triggers of {workspace}"
    )
    for item in found:
        when = {
            "schedule": item["cron"] or f"every {item['every_seconds']} s",
            "event": ",".join(item["event_types"])
            + (f" if {item['condition']}" if item["condition"] else ""),
            "threshold": f"{item['metric']} {item['operator']} {item['threshold']}",
        }[item["kind"]]
        table.add_row(
            item["id"],
            item["name"],
            item["kind"],
            when,
            item["action"]["type"],
            "yes" if item["enabled"] else "no",
        )
    Console().print(table)


@trigger.command("firings")
@_connection
@click.argument("trigger_id")
@click.option("--limit", type=int, default=50, show_default=True)
def list_firings(
    workspace: str, url: str, token: str | None, state_dir: Path | None, trigger_id: str, limit: int
) -> None:
    """List a trigger's firings, newest first, with their outcomes."""
    path = f"{_base(workspace)}/{trigger_id}/firings"
    found = _call("GET", path, url, token, state_dir, params={"limit": limit})["firings"]
    table = Table("fired at", "cause", "status", "attempts", "detail / reason", title=trigger_id)
    for item in found:
        table.add_row(
            item["fired_at"],
            item["cause"],
            item["status"],
            str(item["attempts"]),
            item["reason"] or item["detail"] or "",
        )
    Console().print(table)


def _switch(enabled: bool) -> Callable[..., None]:
    def command(
        workspace: str, url: str, token: str | None, state_dir: Path | None, trigger_id: str
    ) -> None:
        verb = "enable" if enabled else "disable"
        _call("POST", f"{_base(workspace)}/{trigger_id}/{verb}", url, token, state_dir)
        click.echo(f"Trigger {trigger_id} {verb}d.")

    return command


trigger.command("enable", help="Enable a trigger.")(
    _connection(click.argument("trigger_id")(_switch(True)))
)
trigger.command("disable", help="Disable a trigger: it fires no more.")(
    _connection(click.argument("trigger_id")(_switch(False)))
)


@trigger.command("delete")
@_connection
@click.argument("trigger_id")
def delete(
    workspace: str, url: str, token: str | None, state_dir: Path | None, trigger_id: str
) -> None:
    """Delete a trigger (its firings stay in the log)."""
    _call("DELETE", f"{_base(workspace)}/{trigger_id}", url, token, state_dir)
    click.echo(f"Trigger {trigger_id} deleted.")
