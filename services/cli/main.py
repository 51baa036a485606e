"""The ``vigil`` command: one group, one module per command."""

from __future__ import annotations

import click

from services.cli.events import events
from services.cli.imports import import_scan
from services.cli.relay import relay
from services.cli.replay import replay
from services.cli.reports import report
from services.cli.serve import serve
from services.cli.status import status
from services.cli.tokens import token
from services.cli.triggers import trigger
from services.cli.up import up

__all__ = ("cli", "main")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="vigil")
def cli() -> None:
    """vigil: event-sourced vulnerability management.

    \b
    Run everything on this machine (embedded NATS + PostgreSQL, every service):
      vigil up                                 # or `make run`; gateway on http://127.0.0.1:8000
      vigil up --scale api=2 --port 9000       # two gateway replicas on :9000 and :9001
    \b
    From another terminal in the same folder:
      vigil status                             # servers, processes, relay lag
      TOKEN=$(vigil token create --role analyst --workspace acme)
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/api/v1/workspaces
    \b
    On a cluster, point every process at your servers and run one service per process:
      export VIGIL_NATS_URL=nats://nats:4222 VIGIL_DATABASE_URL=postgresql://vigil@db/vigil
      vigil serve api --host 0.0.0.0 --port 8000

    Commands find the servers from VIGIL_NATS_URL / VIGIL_DATABASE_URL, or else
    the embedded ones `vigil up` started in this folder (.vigil/).
    Run `vigil COMMAND --help` for a command's options and examples.
    """  # noqa: D301 (click needs a real \b before literal blocks)


cli.add_command(up)
cli.add_command(serve)
cli.add_command(token)
cli.add_command(status)
cli.add_command(import_scan)
cli.add_command(replay)
cli.add_command(events)
cli.add_command(relay)
cli.add_command(report)
cli.add_command(trigger)


def main() -> None:
    """Entry point of the ``vigil`` script."""
    cli(prog_name="vigil")


if __name__ == "__main__":
    main()
