"""``det print-config``: the fully merged config, as Python or as one JSON object."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import (
    MultiValueCommand,
    cfg_options_option,
    deprecated_options_option,
    overrides_from,
)


@app.command("print-config", cls=MultiValueCommand)
def print_config(
    config: Path = typer.Argument(..., metavar="CONFIG", help="Config file (.py, .json, .yaml)."),
    cfg_options: list[str] | None = cfg_options_option(),
    options: list[str] | None = deprecated_options_option(),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (tuples become lists)."),
) -> None:
    """Print CONFIG with its _base_ files merged and the overrides applied."""
    from detcli.config import load_config
    from detcli.config.serialization import to_json

    # Printing needs no custom modules; importing them could only fail for no benefit.
    cfg = load_config(config, overrides_from(cfg_options, options), import_custom_modules=False)
    if as_json:
        typer.echo(to_json(cfg.to_dict(), indent=2))
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.syntax import Syntax

        Console().print(Syntax(cfg.pretty_text, "python", theme="ansi_dark", word_wrap=True))
    else:
        typer.echo(cfg.pretty_text, nl=False)
