"""What ``det eval-metric`` does: score (or format) a saved results file against a config's test set."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from detcli.errors import ConfigError, DataError


def load_results(path: str | Path) -> list:
    """The results list saved by ``det test --out x.pkl``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}", hint="write one with det test CONFIG CKPT --out x.pkl")
    if path.suffix not in (".pkl", ".pickle"):
        raise DataError(f"{path} is not a .pkl results file",
                        hint="evaluate the pickle det test --out x.pkl wrote (a .json holds converted detections)")
    try:
        with open(path, "rb") as fh:
            results = pickle.load(fh)
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as err:
        raise DataError(f"cannot read results from {path}: {err}") from None
    if not isinstance(results, list):
        raise DataError(f"{path} holds a {type(results).__name__}, not a list of per-image results")
    return results


def run_eval_metric(config: str, results_file: str, metrics: list[str] | None = None, format_only: bool = False,
                    cfg_options: dict[str, Any] | None = None,
                    eval_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Evaluate ``results_file`` with ``metrics`` (or write submission files); returns the metrics."""
    from detcli.config import load_config
    from detcli.data import build_dataset
    from detcli.tools.test_runner import evaluation_kwargs, print_metrics
    from detcli.tools.test_runner import format_only as write_formatted

    if not metrics and not format_only:
        raise ConfigError("nothing to do: give --eval METRIC... or --format-only",
                          hint="e.g. det eval-metric CONFIG results.pkl --eval bbox")
    if metrics and format_only:
        raise ConfigError("--eval and --format-only cannot both be given")
    cfg = load_config(config, cfg_options or {})
    tests = cfg.data.test if isinstance(cfg.data.test, list) else [cfg.data.test]
    for ds in tests:
        ds.test_mode = True
        ds.pop("samples_per_gpu", None)
    dataset = build_dataset(cfg.data.test)
    results = load_results(results_file)
    if format_only:
        write_formatted(dataset, results, eval_options or {}, None)
        return None
    metric_values = dataset.evaluate(results, **evaluation_kwargs(cfg, list(metrics or []), eval_options or {}))
    print_metrics(metric_values)
    return metric_values
