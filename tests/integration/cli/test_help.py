"""Every command explains itself, with examples, and bad input gets a message, not a traceback."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from services.cli._plan import parse_scale
from services.cli.catalog import GATEWAY, SERVICES, load_app_factory
from services.cli.main import cli


@pytest.mark.parametrize(
    "command",
    [[], ["up"], ["serve"], ["token"], ["token", "create"], ["status"]],
    ids=lambda command: " ".join(command) or "vigil",
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="vigil")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: vigil {' '.join(command)}".rstrip() + " ")


@pytest.mark.parametrize("command", [[], ["up"], ["serve"], ["token", "create"]])
def test_help_teaches_with_examples(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"], prog_name="vigil")

    assert "vigil " in result.output.split("Options:")[0].split("\n", 2)[2]
    assert "\\b" not in result.output  # click's no-rewrap marker must be a real backspace


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "api"],
        ["token", "create", "--role", "viewer"],
        ["status"],
    ],
)
def test_without_servers_commands_say_how_to_get_some(
    command: list[str], empty_state_dir: Path
) -> None:
    result = CliRunner().invoke(
        cli,
        command,
        prog_name="vigil",
        env={
            "VIGIL_NATS_URL": "",
            "VIGIL_DATABASE_URL": "",
            "VIGIL_STATE_DIR": str(empty_state_dir),
        },
    )

    assert result.exit_code == 2, result.output
    assert "make run" in result.output
    assert "VIGIL_DATABASE_URL" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_catalog_names_an_importable_factory_for_every_service() -> None:
    assert GATEWAY in SERVICES
    for service in SERVICES:
        assert callable(load_app_factory(service))


def test_scale_defaults_to_one_replica_of_each_service() -> None:
    assert parse_scale(()) == dict.fromkeys(SERVICES, 1)
    assert parse_scale((f"{GATEWAY}=3",))[GATEWAY] == 3
    assert parse_scale((f" {GATEWAY}=2 , ",))[GATEWAY] == 2


@pytest.mark.parametrize(
    "spec", ["api", "api=x", "nosuchservice=1", "api=-1", ",".join(f"{s}=0" for s in SERVICES)]
)
def test_scale_rejects_what_it_cannot_run(spec: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_scale((spec,))
