"""The ``det`` executable: one Typer app, one small module per command family."""

from __future__ import annotations

import sys

from detcli.cli.app import app, state

# isort: split
# Each import below adds its commands to ``app``.
from detcli.cli import (
    analyze_errors,  # noqa: F401
    analyze_logs,  # noqa: F401
    analyze_results,  # noqa: F401
    benchmark,  # noqa: F401
    browse_dataset,  # noqa: F401
    convert,  # noqa: F401
    eval_metric,  # noqa: F401
    flops,  # noqa: F401
    infer,  # noqa: F401
    make_data,  # noqa: F401
    print_config,  # noqa: F401
    publish,  # noqa: F401
    pytorch2onnx,  # noqa: F401
    report_page,  # noqa: F401
    test,  # noqa: F401
    test_robustness,  # noqa: F401
    train,  # noqa: F401
    upgrade_ckpt,  # noqa: F401
    webcam,  # noqa: F401
)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the app and turn errors into one readable line."""
    from detcli.cli.errors import report

    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="det", standalone_mode=False)
    except SystemExit as exc:  # typer.Exit / click usage errors already printed
        return int(exc.code or 0)
    except BaseException as err:  # noqa: BLE001 - the one place that reports everything
        from typer import Abort, Exit

        try:
            from click import ClickException
        except ImportError:  # recent typer vendors click instead of depending on it
            from typer._click import ClickException

        if isinstance(err, Exit):
            return err.exit_code
        if isinstance(err, ClickException):
            err.show()
            return err.exit_code
        if isinstance(err, Abort):
            return report(KeyboardInterrupt(), state["debug"])
        return report(err, state["debug"] or "--debug" in args)
    return result if isinstance(result, int) else 0
