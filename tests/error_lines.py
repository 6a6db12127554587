"""The check behind every "one clear line" test: a failing ``det`` command prints exactly one
``error:`` line, no traceback and no "run with --debug" (that note means an unexpected error)."""

from __future__ import annotations

from detcli.cli import main


def clean_error(capsys, argv: list[str]) -> str:
    """Run ``det argv``; assert a non-zero exit, no traceback and exactly one ``error:`` line; return it."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err and "run with --debug" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]
