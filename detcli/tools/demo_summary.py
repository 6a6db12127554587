"""The closing summary of ``make demo``: wall time per step, the final metrics against the
demo's targets, and where every artefact went.

``make demo`` appends one line ``<step> <start> <end>`` (epoch seconds) per step to
``<out>/steps.tsv``; ``det test --work-dir <out>`` leaves ``eval_<time>.json`` there.

    python -m detcli.tools.demo_summary outputs/demo work_dirs/mask_rcnn_r18_fpn_shapes
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TARGETS = {"bbox_mAP": 0.60, "segm_mAP": 0.50}  # COCO AP@[.5:.95] on the shapes val split
TIME_BUDGET_S = 15 * 60


def read_steps(path: Path) -> list[tuple[str, float]]:
    """``(step, seconds)`` in the order the steps ran."""
    steps = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            steps.append((parts[0], float(parts[2]) - float(parts[1])))
    return steps


def latest_metrics(out_dir: Path) -> dict[str, float]:
    files = sorted(out_dir.glob("eval_*.json"))
    if not files:
        return {}
    return json.loads(files[-1].read_text()).get("metric", {})


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def summary_lines(out_dir: Path, work_dir: Path) -> list[str]:
    lines = ["", "demo summary", "------------"]
    steps_file = out_dir / "steps.tsv"
    steps = read_steps(steps_file) if steps_file.is_file() else []
    total = sum(s for _, s in steps)
    for name, seconds in steps:
        lines.append(f"  {name:<12} {_minutes(seconds):>8}")
    if steps:
        verdict = "within" if total <= TIME_BUDGET_S else "OVER"
        lines.append(f"  {'total':<12} {_minutes(total):>8}   ({verdict} the {TIME_BUDGET_S // 60}-minute budget)")
    metrics = latest_metrics(out_dir)
    lines.append("")
    for key, target in TARGETS.items():
        if key in metrics:
            mark = "ok" if metrics[key] >= target else "BELOW TARGET"
            lines.append(f"  {key:<12} {metrics[key]:.3f}   (target >= {target:.2f}: {mark})")
    for key in ("bbox_mAP_50", "segm_mAP_50"):
        if key in metrics:
            lines.append(f"  {key:<12} {metrics[key]:.3f}")
    lines += ["", "where things are:"]
    places = [
        ("data", Path("data/shapes"), "the generated shapes set (COCO json + png)"),
        ("training", work_dir, "checkpoints (latest.pth), logs (*.log, *.log.json), config"),
        ("metrics", out_dir, "eval_*.json (det test), steps.tsv (step times)"),
        ("images", out_dir / "images", "val images with their detections drawn, one json each"),
        ("video", out_dir / "video", "the annotated moving-shapes video"),
    ]
    for label, path, what in places:
        lines.append(f"  {label:<9} {path}/  {what}" + ("" if path.exists() else "  (missing)"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise a `make demo` run.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("work_dir", type=Path)
    args = parser.parse_args(argv)
    print("\n".join(summary_lines(args.out_dir, args.work_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
