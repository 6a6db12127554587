"""``det pytorch2onnx CONFIG CHECKPOINT``: export a detector to ONNX (mmdetection 2.x ``pytorch2onnx.py`` flags)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from detcli.cli.app import app
from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from


@app.command("pytorch2onnx", cls=MultiValueCommand)
def pytorch2onnx(
    config: Path = typer.Argument(..., help="Config file."),
    checkpoint: str = typer.Argument(..., help="Checkpoint file (.pth)."),
    output_file: str = typer.Option("tmp.onnx", "--output-file", help="Where to write the ONNX model."),
    input_img: str | None = typer.Option(
        None, "--input-img", help="Image to trace (and verify) on; default: a generated scene of shapes."),
    shape: list[int] | None = typer.Option(
        None, "--shape", metavar="H [W]", help="Input size: H W, or S for S x S (default 800 1216)."),
    opset_version: int | None = typer.Option(
        None, "--opset-version", help="ONNX opset; default: the lowest the model needs (11, or 16 with RoIAlign)."),
    dynamic_export: bool = typer.Option(
        False, "--dynamic-export", help="Let the input height and width vary (verified on a second size)."),
    skip_postprocess: bool = typer.Option(
        False, "--skip-postprocess",
        help="Export the heads' raw outputs without NMS (two-stage models then take 'rois' as a second input)."),
    simplify: bool = typer.Option(False, "--simplify", help="Simplify the graph with onnxsim (an optional extra)."),
    verify: bool = typer.Option(
        False, "--verify", help="Run the model in ONNX Runtime and compare with PyTorch; fail beyond tolerance."),
    test_img: str | None = typer.Option(None, "--test-img", help="Another image to verify on."),
    show: bool = typer.Option(
        False, "--show", help="Print the exported graph; with --verify, show both models' detections."),
    cfg_options: list[str] | None = cfg_options_option(),
    dataset: str | None = typer.Option(None, "--dataset", hidden=True, help="Deprecated: read from the config."),
    mean: list[float] | None = typer.Option(None, "--mean", hidden=True, help="Deprecated: read from the config."),
    std: list[float] | None = typer.Option(None, "--std", hidden=True, help="Deprecated: read from the config."),
) -> None:
    """Export CONFIG + CHECKPOINT to ONNX with NMS in the graph: outputs dets (1, N, 5), labels (1, N)
    and, for Mask R-CNN, masks (1, N, H, W), boxes in input pixels."""
    from detcli.tools.onnx_export import run_pytorch2onnx

    if dataset is not None or mean or std:
        print("note: --mean, --std and --dataset are ignored: normalisation and classes come from the config "
              "and checkpoint", file=sys.stderr)
    run_pytorch2onnx(
        str(config), checkpoint, output_file=output_file, input_img=input_img, shape=list(shape or [800, 1216]),
        opset_version=opset_version, dynamic_export=dynamic_export, skip_postprocess=skip_postprocess,
        simplify=simplify, verify=verify, test_img=test_img, show=show, cfg_options=overrides_from(cfg_options))
