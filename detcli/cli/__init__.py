"""The ``det`` executable: one Typer app, one small module per command family."""

from __future__ import annotations

import sys

from detcli.cli.app import app, state

# Each import below adds its commands to ``app``.
# (command modules are imported here as they land)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app and turn errors into one readable line."""
    from detcli.cli.errors import report

    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="det", standalone_mode=False)
    except SystemExit as exc:  # typer.Exit / click usage errors already printed
        return int(exc.code or 0)
    except BaseException as err:  # noqa: BLE001 - the one place that reports everything
        import click

        if isinstance(err, click.exceptions.Exit):
            return err.exit_code
        if isinstance(err, click.ClickException):
            err.show()
            return err.exit_code
        if isinstance(err, click.exceptions.Abort):
            return report(KeyboardInterrupt(), state["debug"])
        return report(err, state["debug"] or "--debug" in args)
    return result if isinstance(result, int) else 0
