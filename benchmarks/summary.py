"""One table of every side-by-side ratio the last ``make bench`` parts wrote (``outputs/bench/*.json``).

    .venv/bin/python benchmarks/summary.py [--dir outputs/bench]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from detcli.atomic_write import dump_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratio_table import OUT_DIR  # noqa: E402

PARTS = ("coco_eval", "pipeline_vs_mmdet", "train_vs_torchvision", "train_vs_mmdet", "train_vs_mmdet_map",
         "infer_vs_torchvision")


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title="make bench: detcli / peer (>1: detcli better), min / median / max over repeats")
    for col in ("part", "what", "peer", "min", "median", "max", "goal", "load avg"):
        table.add_column(col, justify="left" if col in ("part", "what", "peer") else "right")
    summary = {}
    for part in PARTS:
        path = args.dir / f"{part}.json"
        if not path.is_file():
            continue
        report = json.loads(path.read_text())
        summary[part] = report
        load = f"{report['meta'].get('load_avg_start')}-{report['meta'].get('load_avg_end')}"
        for row in report["rows"]:
            goal = "-" if row.get("goal") is None else f"{row['goal']:g}x {'ok' if row.get('goal_met') else 'no'}"
            table.add_row(part, row["name"], row["peer"], _ratio(row["ratio_min"]), _ratio(row["ratio_median"]),
                          _ratio(row["ratio_max"]), goal, load)
    Console(width=170).print(table)
    out = args.dir / "summary.json"
    dump_json_atomic(summary, out, indent=1)
    print(f"written: {out}")


if __name__ == "__main__":
    main()
