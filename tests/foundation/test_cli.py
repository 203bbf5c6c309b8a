"""Every command of the one CLI answers --help; unknown input gets a usage error, never a traceback."""

from __future__ import annotations

import typer.main

from prodml.cli import app


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    return paths


def test_every_command_has_help(cli):
    paths = all_command_paths()
    # the foundation's own commands, at least; stages add theirs
    names = {" ".join(p) for p in paths}
    assert {
        "emulator up",
        "emulator down",
        "emulator status",
        "emulator executor status",
        "emulator executor start",
        "emulator executor stop",
        "bootstrap",
        "ingest",
        "sample-data",
        "ship",
        "image record",
        "etl",
        "train",
        "register",
        "demo",
    } <= names
    helps = {}
    for path in paths:
        result = cli(*path, "--help")
        assert result.returncode == 0, (path, result.stderr)
        assert "Usage:" in result.stdout
        helps[" ".join(path)] = result.stdout
    # Stage commands start AWS jobs and follow them; --no-wait returns once started, --json prints one document.
    for command in ("etl", "train"):
        assert "--no-wait" in helps[command] and "--json" in helps[command], command
    for command in ("ship", "image record", "emulator executor status", "emulator executor start"):
        assert "--json" in helps[command], command
    assert "--no-executor" in helps["emulator up"]


def test_removed_options_are_usage_errors(cli):
    # Jobs run where the endpoint runs them (the emulator's executor or AWS): there is no local/aws switch.
    result = cli("train", "--on", "aws")
    assert result.returncode == 2 and "No such option" in result.stderr
    result = cli("etl", "--upload-code")
    assert result.returncode == 2 and "No such option" in result.stderr


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.returncode == 2 and "No such command" in result.stderr
