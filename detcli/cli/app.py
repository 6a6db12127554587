"""The ``det`` Typer app and its global options; command modules add themselves to ``app``."""

from __future__ import annotations

import typer

from detcli import __version__

app = typer.Typer(
    name="det",
    help="Object detection and instance segmentation: train, test, infer and tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Set by the --debug callback; read by ``detcli.cli.main`` when an error escapes.
state = {"debug": False}


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"detcli {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Object detection and instance segmentation: train, test, infer and tools."""
    state["debug"] = debug
