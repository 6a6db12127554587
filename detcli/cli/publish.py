"""``det publish IN.pth OUT.pth``: a checkpoint to hand out (mmdetection's ``publish_model.py``)."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer

from detcli.cli.app import app
from detcli.cli.checkpoint_options import apply_unsafe_load, unsafe_load_option


@app.command("publish")
def publish(
    in_file: str = typer.Argument(..., help="Checkpoint to publish (e.g. work_dirs/x/latest.pth)."),
    out_file: str = typer.Argument(..., help="Output name; the sha256 prefix is added: OUT-1a2b3c4d.pth."),
    keep_ema: bool = typer.Option(False, "--keep-ema", help="Keep the EMA hook's ema_* buffers."),
    unsafe_load: bool = unsafe_load_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Keep weights (as CPU tensors) and meta, drop the optimizer and training state, name by sha256."""
    from detcli.tools.publish import describe, publish_checkpoint

    apply_unsafe_load(unsafe_load)
    result = publish_checkpoint(in_file, out_file, keep_ema=keep_ema)
    typer.echo(json.dumps(asdict(result)) if as_json else describe(result))
