"""Every `python main.py COMMAND` that a message or the README tells a user to run is a real command."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from main import build_parser
from tests.conftest import REPO

HINT = re.compile(r"python main\.py ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")
SCANNED = [*(REPO / d for d in ("app", "common", "db", "models")), REPO / "main.py", REPO / "README.md"]


def _files() -> list[Path]:
    found: list[Path] = []
    for root in SCANNED:
        found += sorted(root.rglob("*.py")) if root.is_dir() else [root]
    return found


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``parser`` by name (empty when it has none)."""
    for action in parser._actions:  # argparse keeps sub-commands only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _hints() -> list[tuple[str, str]]:
    """``(where, "command [word]")`` for every hint in the scanned files."""
    hints = []
    for path in _files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            hints += [(f"{path.relative_to(REPO)}:{number}", m.group(1)) for m in HINT.finditer(line)]
    return hints


def test_the_scan_finds_the_hints_messages_give() -> None:
    named = {words.split()[0] for _, words in _hints()}
    assert {"people", "sessions", "models", "enroll"} <= named


@pytest.mark.parametrize("where, words", _hints())
def test_every_command_a_hint_names_exists(where: str, words: str) -> None:
    first, *rest = words.split()
    commands = _commands(build_parser())
    assert first in commands, f"{where} tells the user to run `python main.py {first}`, which does not exist"
    actions = _commands(commands[first])
    if rest and actions:  # e.g. `models fetch`: the second word must be one of the command's actions
        assert rest[0] in actions, f"{where} names `python main.py {words}`, but {first} has no action {rest[0]!r}"
