"""``det upgrade-ckpt IN OUT``: mmdetection 1.x checkpoints to 2.x key names and class layout."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option


@app.command("upgrade-ckpt")
def upgrade_ckpt(
    in_file: str = typer.Argument(..., metavar="IN.pth", help="Checkpoint written by mmdetection 1.x."),
    out_file: Path = typer.Argument(..., metavar="OUT.pth", help="Where to write the 2.x checkpoint."),
    num_classes: int | None = typer.Option(
        None, "--num-classes",
        help="Classes of the original model, background included (81 for COCO; default: read from fc_cls, else 81)."),
    config: Path | None = typer.Option(
        None, "--config", help="Check that the result loads into this 2.x config's model with no key left over."),
    unsafe_load: bool = unsafe_load_option(),
) -> None:
    """Rename IN's weights to the 2.x layout and move the background class last; write OUT (weights-only)."""
    from detcli.tools.upgrade_checkpoint import summary_lines, upgrade_checkpoint

    apply_unsafe_load(unsafe_load)
    report = upgrade_checkpoint(in_file, str(out_file), num_classes, str(config) if config else None)
    typer.echo("\n".join(summary_lines(report, str(out_file))))
