"""``det browse-dataset CONFIG``: look at training samples after the pipeline."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("browse-dataset", cls=MultiValueCommand)
def browse_dataset(
    config: Path = typer.Argument(..., help="Config file whose data.train is drawn."),
    skip_type: list[str] | None = typer.Option(
        None, "--skip-type", help="Pipeline step types to skip (default: DefaultFormatBundle Normalize Collect)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", help="Write the drawn images here."),
    not_show: bool = typer.Option(False, "--not-show", help="Do not open a window."),
    show_interval: float = typer.Option(2.0, "--show-interval", help="Seconds each image is shown."),
    cfg_options: list[str] | None = cfg_options_option(),
) -> None:
    """Run the train pipeline and draw boxes, labels and masks on each image."""
    from detcli.tools.browse_dataset import DEFAULT_SKIP
    from detcli.tools.browse_dataset import browse_dataset as run

    count = run(config, output_dir=output_dir, not_show=not_show, show_interval=show_interval,
                skip_type=tuple(skip_type) if skip_type else DEFAULT_SKIP, cfg_options=overrides_from(cfg_options))
    if output_dir is not None:
        typer.echo(f"wrote {count} images to {output_dir}")
