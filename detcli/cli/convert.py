"""``det convert voc|cityscapes|regnet|detectron``: datasets to COCO json, foreign weights to our key names."""

from __future__ import annotations

from pathlib import Path

import typer

from detcli.cli.app import app

convert_app = typer.Typer(help="Convert datasets (VOC, Cityscapes) and pretrained weights (pycls, Detectron).",
                          no_args_is_help=True)
app.add_typer(convert_app, name="convert")


def _print_summary(summary: dict[str, dict]) -> None:
    for name, info in summary.items():
        if "skipped" in info:
            typer.echo(f"{name}: skipped ({info['skipped']})")
        else:
            typer.echo(f"{name}: {info['images']} images, {info['instances']} instances -> {info['file']}")


def _print_weights(info: dict) -> None:
    typer.echo(f"wrote {info['dst']} ({info['converted']} tensors)")
    if info["left_out"]:
        shown = ", ".join(info["left_out"][:8]) + (" ..." if len(info["left_out"]) > 8 else "")
        typer.echo(f"not converted ({len(info['left_out'])}): {shown}")


@convert_app.command("voc")
def voc(
    devkit: Path = typer.Argument(..., help="The VOCdevkit folder (holding VOC2007/ and/or VOC2012/)."),
    out_dir: Path | None = typer.Option(None, "-o", "--out-dir", help="Output folder (default: DEVKIT)."),
    out_format: str = typer.Option("coco", "--out-format", help="coco (json) or pkl (the middle format)."),
    classes: Path | None = typer.Option(None, "--classes",
                                        help="Text file with one class name a line (default: the 20 VOC classes)."),
) -> None:
    """Pascal VOC XML to voc07_trainval.json, voc07_test.json, voc12_*, voc0712_* (COCO) or .pkl."""
    from detcli.apis.progress import progress_bar
    from detcli.data.file_io import list_from_file
    from detcli.tools.converters.pascal_voc import convert_voc

    names = [c.strip() for c in list_from_file(classes, what="class list") if c.strip()] if classes else None
    summary = convert_voc(devkit, out_dir, out_format.lower(), names,
                          progress=lambda total: progress_bar(total, "voc", unit="xml"))
    _print_summary(summary)


@convert_app.command("cityscapes")
def cityscapes(
    root: Path = typer.Argument(..., help="The Cityscapes folder (holding leftImg8bit/ and gtFine/)."),
    img_dir: str = typer.Option("leftImg8bit", "--img-dir", help="Image folder under ROOT."),
    gt_dir: str = typer.Option("gtFine", "--gt-dir", help="Annotation folder under ROOT."),
    out_dir: Path | None = typer.Option(None, "-o", "--out-dir", help="Output folder (default: ROOT)."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Processes reading the annotation images."),
) -> None:
    """gtFine instances to instancesonly_filtered_gtFine_{train,val,test}.json (COCO, RLE masks)."""
    from detcli.apis.progress import progress_bar
    from detcli.tools.converters.cityscapes import convert_cityscapes

    summary = convert_cityscapes(root, img_dir, gt_dir, out_dir, nproc,
                                 progress=lambda split, n: progress_bar(n, f"cityscapes {split}"))
    _print_summary(summary)


@convert_app.command("regnet")
def regnet(
    src: Path = typer.Argument(..., help="pycls RegNetX weights (e.g. RegNetX-3.2GF_dds_8gpu.pyth)."),
    dst: Path = typer.Argument(..., help="Output checkpoint (.pth) with RegNet key names."),
) -> None:
    """pycls RegNet weights to RegNet's ResNet-style key names (conv1, layer1.0.conv1, ...)."""
    from detcli.tools.converters.regnet import convert_regnet

    _print_weights(convert_regnet(src, dst))


@convert_app.command("detectron")
def detectron(
    src: Path = typer.Argument(..., help="Detectron ResNet pickle (e.g. R-50.pkl)."),
    dst: Path = typer.Argument(..., help="Output checkpoint (.pth) with torchvision-style ResNet keys."),
    depth: int = typer.Argument(..., help="ResNet depth: 50, 101 or 152."),
) -> None:
    """Detectron's ResNet weights to torchvision-style keys (frozen BNs: mean 0, variance 1)."""
    from detcli.tools.converters.detectron import convert_detectron

    _print_weights(convert_detectron(src, dst, depth))
