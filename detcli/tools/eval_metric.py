"""What ``det eval-metric`` does: score (or format) a saved results file against a config's test set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detcli.data.safe_pickle import load_pickle
from detcli.errors import ConfigError, DataError


def load_results(path: str | Path, dataset: Any = None) -> list:
    """The results list saved by ``det test --out x.pkl`` (read without running code), or the
    COCO-style detections of ``--out x.json`` turned back into that list (needs ``dataset``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"results file not found: {path}", hint="write one with det test CONFIG CKPT --out x.pkl")
    if path.suffix.lower() == ".json":
        if dataset is None:
            raise DataError(f"{path}: reading COCO-style json results needs the test set")
        from detcli.data.file_io import load
        from detcli.evaluation.results_json import results_from_coco_json

        return results_from_coco_json(load(path, what="results file"), dataset, str(path))
    if path.suffix.lower() not in (".pkl", ".pickle"):
        raise DataError(f"{path} is neither a .pkl nor a .json results file",
                        hint="evaluate what det test --out x.pkl (or --out x.json) wrote")
    results = load_pickle(path, what="results file")
    if not isinstance(results, list):
        raise DataError(f"{path} holds a {type(results).__name__}, not a list of per-image results")
    return results


def run_eval_metric(config: str, results_file: str, metrics: list[str] | None = None, format_only: bool = False,
                    cfg_options: dict[str, Any] | None = None,
                    eval_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Evaluate ``results_file`` with ``metrics`` (or write submission files); returns the metrics."""
    from detcli.config import load_config
    from detcli.config.required import require_keys
    from detcli.data import build_dataset
    from detcli.tools.test_runner import evaluation_kwargs, print_metrics
    from detcli.tools.test_runner import format_only as write_formatted

    if not metrics and not format_only:
        raise ConfigError("nothing to do: give --eval METRIC... or --format-only",
                          hint="e.g. det eval-metric CONFIG results.pkl --eval bbox")
    if metrics and format_only:
        raise ConfigError("--eval and --format-only cannot both be given")
    cfg = load_config(config, cfg_options or {})
    require_keys(cfg, config, ("data", "data.test"), "det eval-metric")
    tests = cfg.data.test if isinstance(cfg.data.test, list) else [cfg.data.test]
    for ds in tests:
        ds.test_mode = True
        ds.pop("samples_per_gpu", None)
    dataset = build_dataset(cfg.data.test)
    results = load_results(results_file, dataset)
    if format_only:
        write_formatted(dataset, results, eval_options or {}, None)
        return None
    metric_values = dataset.evaluate(results, **evaluation_kwargs(cfg, list(metrics or []), eval_options or {}))
    print_metrics(metric_values)
    return metric_values
