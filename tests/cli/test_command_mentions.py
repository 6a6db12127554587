"""Every ``det <command>`` that the package, the configs and the README mention is a real command.

Docstrings, hints and the README send users to commands; a mention of one that does not
exist (or no longer does) is a dead end. Mentions are found as ``det <word>`` in the text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from detcli.cli import app

REPO = Path(__file__).resolve().parents[2]
MENTION = re.compile(r"(?<![\w-])det ([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")
# prose where "det" is followed by an ordinary word, not a command
PROSE = {"start", "pick", "labels"}
# spellings that are not det commands: never send users there (the error analysis is analyze-errors)
ABSENT = {"error-analysis"}


def registered_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)


def mentions() -> dict[str, set[str]]:
    """command -> files that mention ``det <command>``."""
    files = [*sorted((REPO / "detcli").rglob("*.py")), *sorted((REPO / "configs").rglob("*.md")),
             *sorted((REPO / "benchmarks").glob("*.py")), REPO / "README.md", REPO / "Makefile"]
    found: dict[str, set[str]] = {}
    for path in files:
        for word in MENTION.findall(path.read_text(encoding="utf-8")):
            found.setdefault(word, set()).add(str(path.relative_to(REPO)))
    return found


def test_the_scan_finds_the_commands_the_readme_lists():
    assert {"train", "test", "infer", "print-config"} <= set(mentions())
    assert {"train", "test", "infer", "webcam", "eval-metric", "make-data"} <= registered_commands()


def test_every_mentioned_command_exists():
    known = registered_commands() | PROSE
    unknown = {word: sorted(files) for word, files in mentions().items() if word not in known}
    assert not unknown, f"mentions of commands det does not have: {unknown}"


@pytest.mark.parametrize("command", sorted(ABSENT))
def test_no_mention_of_a_tool_det_does_not_have(command):
    assert command not in mentions(), f"det {command} is mentioned in {sorted(mentions()[command])}"
