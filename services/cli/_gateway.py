"""What the commands that talk to the gateway over HTTP share: the token and its refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from services.cli._servers import load_settings

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

__all__ = ("TOKEN_FILE", "api_token", "refusal")

TOKEN_FILE = "admin-token"
"""Written by `vigil up` into the state folder."""


def api_token(token: str | None, state_dir: Path | None) -> str:
    """The token given, or else the admin token `vigil up` keeps in the state folder."""
    if token:
        return token
    path = load_settings(state_dir).state_dir / TOKEN_FILE
    try:
        kept = path.read_text().strip()
    except OSError:
        kept = ""
    if not kept:
        raise click.ClickException(
            f"No API token: pass --token or set VIGIL_TOKEN (see `vigil token create`), "
            f"or run `vigil up` in this folder, which keeps an admin token in {path}."
        )
    return kept


def refusal(response: httpx.Response) -> click.ClickException:
    """The gateway's problem details as a CLI error."""
    try:
        problem = response.json()
        message = f"{problem.get('title', response.reason_phrase)}: {problem.get('detail', '')}"
    except ValueError:
        message = f"{response.status_code} {response.reason_phrase}"
    if response.status_code == 401:
        message += " (check --token / VIGIL_TOKEN)"
    return click.ClickException(f"The gateway refused the request ({message.strip()})")
