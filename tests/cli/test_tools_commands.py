"""The tool commands are in ``det --help``; mmdetection's script spellings work but stay out of the listing."""

from __future__ import annotations

from detcli.cli import main


def test_help_lists_the_tool_commands(capsys):
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    for command in ("analyze-logs", "publish", "benchmark"):
        assert f" {command} " in listing, command
    assert main(["analyze-logs", "--help"]) == 0
    sub = capsys.readouterr().out
    assert " plot " in sub and " cal-train-time " in sub
    assert "plot_curve" not in sub and "cal_train_time" not in sub  # accepted, not advertised


def test_mmdetection_spellings_reach_the_same_commands(capsys):
    assert main(["analyze-logs", "plot_curve", "--help"]) == 0
    assert "--keys" in capsys.readouterr().out
    assert main(["analyze-logs", "cal_train_time", "--help"]) == 0
    assert "--include-outliers" in capsys.readouterr().out
