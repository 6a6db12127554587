"""How the CLI prints errors: one line plus a hint, brackets and other markup-like text kept as written."""

from __future__ import annotations

from detcli.cli.errors import report
from detcli.errors import DetError


def test_brackets_in_messages_and_hints_are_printed_as_written(capsys):
    err = DetError("no module [red]x[/red] in /data/[train]/a.json",
                   hint="pip install 'detcli[optional]' (or the [dev] extra)")
    assert report(err, debug=False) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error: no module [red]x[/red] in /data/[train]/a.json",
                     "hint: pip install 'detcli[optional]' (or the [dev] extra)"]


def test_an_unexpected_error_names_its_type_and_keeps_brackets(capsys):
    assert report(KeyError("[bold]key[/bold]"), debug=False) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error: KeyError: '[bold]key[/bold]'"
    assert lines[1] == "run with --debug for the traceback"


def test_a_command_error_names_a_path_with_brackets_in_full(tmp_path, capsys):
    from detcli.cli import main

    folder = tmp_path / "runs[v2]" / "[b]exp"
    folder.mkdir(parents=True)
    cfg = folder / "bad.py"
    cfg.write_text("x = [1\n")
    assert main(["print-config", str(cfg)]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("error: ") and str(cfg) in first
