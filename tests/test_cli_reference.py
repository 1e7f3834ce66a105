"""docs/cli.md is generated from the parser; this fails when one changes without the other."""

from __future__ import annotations

from pathlib import Path

from gateway.cli import build_parser
from gateway.cli_reference import COMMAND, commands, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_matches_the_parser():
    assert DOC.read_text() == render(), f"docs/cli.md is out of date; run: .venv/bin/{COMMAND}"


def test_the_reference_has_every_command_and_the_exit_codes():
    text = render()
    progs = [command.prog for command in commands(build_parser())]
    assert {"gateway serve", "gateway check", "gateway mlops loop", "gateway mlops train",
            "gateway mlops otlp-sink", "gateway appliance audit"} <= set(progs)
    assert all(f"## `{prog}`" in text for prog in progs)
    assert "exit codes (every command)" in text


def test_the_reference_does_not_depend_on_the_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    assert render() == DOC.read_text()
