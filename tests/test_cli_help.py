"""Every `--help` of the real console script: it runs, and it says what is true (issue 14:
`lab --help` showed `fault ...` as if it were required); output into a closed pipe."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from borderwatch.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
COMMANDS = [(), ("run",), ("check",), ("poll",), ("lab",), ("lab", "fault"), ("rules",),
            ("silence",), ("silence", "add"), ("silence", "list"), ("silence", "expire"),
            ("schema",), ("report",), ("alerts",)]


def help_text(*command: str) -> str:
    run = subprocess.run([sys.executable, "-m", "borderwatch.cli", *command, "--help"],
                         capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "COLUMNS": "100"})
    assert (run.returncode, run.stderr) == (0, ""), run
    return run.stdout


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_command_has_a_help_page_and_every_argument_says_what_it_is() -> None:
    found = [path for path, _ in _parsers(build_parser())]
    assert sorted(found) == sorted(COMMANDS)  # a new command joins COMMANDS (and the README)
    missing = [(path, action.dest) for path, parser in _parsers(build_parser())
               for action in parser._actions
               if not isinstance(action, argparse._SubParsersAction) and not action.help]
    assert missing == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "borderwatch")
def test_help_runs(command: tuple[str, ...]) -> None:
    assert help_text(*command).startswith(f"usage: {' '.join(('borderwatch', *command))}")


def test_lab_help_shows_fault_as_optional() -> None:
    text = help_text("lab")
    assert text.startswith("usage: borderwatch lab [options]\n"
                           "       borderwatch lab fault VERB [TARGET] [options]\n")
    assert "fault ..." not in text and "positional arguments" not in text


def test_fault_help_lists_every_verb_with_its_target() -> None:
    from borderwatch.lab.control import VERBS

    text = " ".join(help_text("lab", "fault").split())
    for verb, (_, kind, _) in VERBS.items():
        assert f"{verb} {kind.upper()}".strip() in text
    assert "--json" in text


@pytest.mark.parametrize("command", [("schema",), ("rules", "--check")])
def test_output_into_a_closed_pipe_is_not_a_traceback(command: tuple[str, ...]) -> None:
    """`borderwatch … | head` when head has gone: exit like `cat` (141), no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: deterministic EPIPE
    try:
        run = subprocess.run([sys.executable, "-m", "borderwatch.cli", *command], cwd=REPO,
                             stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"})
    finally:
        os.close(write_end)
    assert (run.returncode, run.stderr) == (141, "")
