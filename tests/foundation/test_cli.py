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
        "bootstrap",
        "ingest",
        "sample-data",
        "demo",
    } <= names
    for path in paths:
        result = cli(*path, "--help")
        assert result.returncode == 0, (path, result.stderr)
        assert "Usage:" in result.stdout


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.returncode == 2 and "No such command" in result.stderr
