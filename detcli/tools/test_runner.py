"""What ``det test`` does: build the test set and the detector, run it (1 or N processes), save/evaluate.

All flags of mmdetection 2.x's ``tools/test.py`` have a field here, so the guide's
examples work as ``det test`` commands.
"""

from __future__ import annotations

import inspect
import os
import pickle
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from detcli.atomic_write import atomic_open, dump_json_atomic, temp_beside
from detcli.errors import ConfigError, DetError

# EvalHook settings that are not arguments of dataset.evaluate
HOOK_ONLY_EVAL_KEYS = ("interval", "tmpdir", "start", "gpu_collect", "save_best", "rule", "dynamic_intervals",
                       "by_epoch", "broadcast_bn_buffer", "out_dir", "greater_keys", "less_keys", "efficient_test",
                       "type")


@dataclass
class TestOptions:
    config: str
    checkpoint: str
    work_dir: str | None = None
    out: str | None = None
    eval: list[str] = field(default_factory=list)
    format_only: bool = False
    eval_options: dict[str, Any] = field(default_factory=dict)
    show: bool = False
    show_dir: str | None = None
    show_score_thr: float = 0.3
    gpus: int = 1
    gpu_id: int = 0
    launcher: str = "none"
    cfg_options: dict[str, Any] = field(default_factory=dict)
    fuse_conv_bn: bool | None = None  # None: the config's fuse_conv_bn (default False)
    device: str | None = None
    gpu_collect: bool = False
    tmpdir: str | None = None
    allow_partial: bool = False  # test a model the checkpoint fills to less than MIN_LOADED


# a checkpoint that fills less of the model than this is taken for another model's
MIN_LOADED = 0.5


def check_options(opts: TestOptions) -> None:
    """The flag combinations ``tools/test.py`` rejects, as one-line errors."""
    if not (opts.out or opts.eval or opts.format_only or opts.show or opts.show_dir):
        raise ConfigError("nothing to do: give --out, --eval, --format-only, --show or --show-dir",
                          hint="e.g. det test CONFIG CHECKPOINT --eval bbox --out results.pkl")
    if opts.eval and opts.format_only:
        raise ConfigError("--eval and --format-only cannot both be given",
                          hint="--format-only writes result files for an evaluation server; --eval scores here")
    if opts.out and not opts.out.endswith((".pkl", ".pickle", ".json")):
        raise ConfigError(f"--out must end in .pkl, .pickle or .json, got {opts.out}",
                          hint=".pkl keeps the raw results list; .json writes COCO-style detections")
    distributed = opts.launcher != "none" or opts.gpus > 1
    if distributed and (opts.show or opts.show_dir):
        raise ConfigError("--show and --show-dir work in a single process only",
                          hint="drop --gpus/--launcher to draw results")
    if opts.gpus < 1:
        raise ConfigError(f"--gpus must be at least 1, got {opts.gpus}")
    if opts.out and opts.launcher == "none":  # before minutes of testing, not after
        check_output_writable(opts.out)
    if opts.show:
        from detcli.visualization import require_display

        require_display("--show")


def pick_device(opts: TestOptions, local_rank: int = 0) -> str:
    """--device, else CUDA when available (one GPU per process), else the CPU."""
    import torch

    from detcli.apis.inference import check_device

    if opts.device:
        device = opts.device
        if device == "cuda":
            device = f"cuda:{local_rank if opts.launcher != 'none' or opts.gpus > 1 else opts.gpu_id}"
    elif torch.cuda.is_available():
        device = f"cuda:{local_rank if opts.launcher != 'none' or opts.gpus > 1 else opts.gpu_id}"
    else:
        device = "cpu"
    return str(check_device(device))


def prepare_config(opts: TestOptions) -> Any:
    """The config with overrides, no pre-training downloads, and the test set in test mode."""
    from detcli.config import load_config
    from detcli.config.required import require_keys
    from detcli.data.pipelines import replace_ImageToTensor

    cfg = load_config(opts.config, opts.cfg_options)
    require_keys(cfg, opts.config, ("model", "data", "data.test"), "det test")
    if "pretrained" in cfg.model:
        cfg.model.pretrained = None
    elif isinstance(cfg.model.get("backbone"), dict) and "init_cfg" in cfg.model.backbone:
        cfg.model.backbone.init_cfg = None
    cfg.model.train_cfg = None
    data = cfg.data
    tests = data.test if isinstance(data.test, list) else [data.test]
    loader_cfg = dict(data.get("test_dataloader", {}))
    if "workers_per_gpu" in data:
        loader_cfg.setdefault("workers_per_gpu", data.workers_per_gpu)
    for ds in tests:
        ds.test_mode = True
        if "samples_per_gpu" in ds:  # 2.x configs put the test batch size on the dataset
            loader_cfg.setdefault("samples_per_gpu", ds.pop("samples_per_gpu"))
    if loader_cfg.get("samples_per_gpu", 1) > 1:
        for ds in tests:
            ds.pipeline = replace_ImageToTensor(ds.pipeline)
    data.test_dataloader = loader_cfg
    return cfg


def build_test_loader(cfg: Any, dataset: Any, distributed: bool = False, **overrides: Any) -> Any:
    """The loader ``det test`` runs ``dataset`` with: ``data.test_dataloader`` (batch 1, 2 workers
    unless it says otherwise; ``prepare_config`` fills it) and ``overrides``, in order, unshuffled."""
    from detcli.data import build_dataloader

    args = dict(samples_per_gpu=1, workers_per_gpu=2)
    args.update(cfg.data.test_dataloader)
    args.update(overrides, dist=distributed, shuffle=False)
    return build_dataloader(dataset, **args)


def check_not_empty(dataset: Any, key: str) -> None:
    """An empty test set is a wrong path or filter, not zero results to evaluate."""
    if len(dataset) > 0:
        return
    from detcli.data.bad_images import leaf_datasets
    from detcli.errors import DataError

    files = [str(leaf.ann_file) for leaf in leaf_datasets(dataset) if getattr(leaf, "ann_file", None)]
    source = f"{', '.join(files)} list{'s' if len(files) == 1 else ''} no images" if files else "it holds no images"
    raise DataError(f"the {key} set is empty: {source}",
                    hint=f"check {key}.ann_file, img_prefix and classes in the config")


def build_model(cfg: Any, opts: TestOptions, dataset: Any, device: str) -> Any:
    from detcli.engine.checkpoint import load_checkpoint
    from detcli.engine.inference_setup import prepare_for_inference
    from detcli.models import build_detector

    model = build_detector(cfg.model, test_cfg=cfg.get("test_cfg"))
    checkpoint = load_checkpoint(model, opts.checkpoint, map_location="cpu",
                                 min_loaded=0.0 if opts.allow_partial else MIN_LOADED)
    meta = checkpoint.get("meta", {}) if isinstance(checkpoint, dict) else {}
    model.CLASSES = tuple(meta["CLASSES"]) if meta.get("CLASSES") else tuple(dataset.CLASSES)
    model.cfg = cfg
    return prepare_for_inference(model, cfg, device, fuse_conv_bn=opts.fuse_conv_bn)


def save_results(outputs: list, path: str, dataset: Any) -> None:
    """``.pkl``: the results list as is; ``.json``: COCO-style detections of the dataset's images."""
    target = Path(path)
    check_output_writable(path)
    if target.suffix == ".json":
        from detcli.evaluation.coco_format import result_kind, results_to_coco_json

        img_ids = getattr(dataset, "img_ids", None) or list(range(len(dataset)))
        num_classes = len(dataset.CLASSES or [])
        cat_ids = getattr(dataset, "cat_ids", None) or list(range(num_classes))
        entries = results_to_coco_json(outputs, img_ids, cat_ids) if outputs else {"bbox": []}
        kind = "segm" if outputs and result_kind(outputs[0]) == "segm" else next(iter(entries))
        try:
            dump_json_atomic(entries[kind], target)
        except OSError as err:
            raise _unwritable(path, err) from None
        return
    try:
        with atomic_open(target, "wb") as fh:
            pickle.dump(outputs, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as err:  # the user's path, not our temp file's name
        raise _unwritable(path, err) from None


def _unwritable(path: str, err: OSError) -> DetError:
    return DetError(f"cannot write results to {path}: {err.strerror or err}",
                    hint="give --out a path in a folder you can write to")


def check_output_writable(path: str) -> None:
    """Fail before testing when ``--out`` cannot be written (creating its folder if needed)."""
    try:
        os.unlink(temp_beside(path))
    except OSError as err:
        raise _unwritable(path, err) from None


def evaluation_kwargs(cfg: Any, metrics: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    """The config's ``evaluation`` settings minus the hook's own, with ``metric`` and --eval-options."""
    kwargs = dict(cfg.get("evaluation", {}) or {})
    for key in HOOK_ONLY_EVAL_KEYS:
        kwargs.pop(key, None)
    kwargs.update(metric=list(metrics), **extra)
    return kwargs


def format_only(dataset: Any, outputs: list, options: dict[str, Any], work_dir: str | None) -> None:
    """Write the dataset's submission files; a json prefix defaults to WORK_DIR/results (or ./results)."""
    kwargs = dict(options)
    params = inspect.signature(dataset.format_results).parameters
    for prefix_key in ("jsonfile_prefix", "txtfile_prefix"):
        if prefix_key in params and prefix_key not in kwargs:
            kwargs[prefix_key] = os.path.join(work_dir or ".", "results")
    files, tmp_dir = _as_pair(dataset.format_results(outputs, **kwargs))
    paths = files.values() if isinstance(files, dict) else files if isinstance(files, (list, tuple)) else []
    paths = sorted({str(p) for p in paths if isinstance(p, (str, os.PathLike))})
    if tmp_dir is None and paths:
        shown = paths if len(paths) <= 5 else [*paths[:4], f"... ({len(paths)} files)"]
        for name in shown:
            print(f"wrote {name}")


def _as_pair(value: Any) -> tuple[Any, Any]:
    return value if isinstance(value, tuple) and len(value) == 2 else (value, None)


def print_metrics(metrics: dict[str, Any], outputs: list | None = None) -> None:
    """The metrics as a table; none (the evaluation said why, e.g. no detections): no empty table."""
    from detcli.evaluation.coco_format import count_detections
    from detcli.evaluation.report import emit, make_table

    if not metrics:
        if outputs is None or count_detections(outputs) > 0:
            emit("the evaluation returned no metrics")
        return
    rows = [[k, f"{v:.4f}" if isinstance(v, float) else str(v)] for k, v in metrics.items()]
    emit(make_table(["metric", "value"], rows))


def write_metrics_json(work_dir: str, config: str, metrics: dict[str, Any]) -> str:
    path = os.path.join(work_dir, f"eval_{time.strftime('%Y%m%d_%H%M%S')}.json")
    dump_json_atomic({"config": str(config), "metric": _jsonable(metrics)}, path)
    return path


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def run_test(opts: TestOptions) -> dict[str, Any] | None:
    """Run ``det test``; returns the metrics on rank 0 (None elsewhere or without --eval)."""
    check_options(opts)
    if opts.gpus > 1 and opts.launcher == "none":
        return _launch_local(opts)
    import torch

    from detcli.apis import multi_gpu_test, single_gpu_test
    from detcli.data import build_dataset
    from detcli.engine.dist import get_dist_info, get_local_rank

    distributed = opts.launcher != "none"
    cfg = prepare_config(opts)
    if distributed:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            from detcli.engine.dist import init_dist

            init_dist(opts.launcher, **dict(cfg.get("dist_params", {}) or {}))
    device = pick_device(opts, get_local_rank())
    if distributed and device == "cpu":  # N processes share the cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // get_dist_info()[1]))
    if cfg.get("cudnn_benchmark", False) and device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    rank, _ = get_dist_info()
    if opts.work_dir and rank == 0:
        Path(opts.work_dir).mkdir(parents=True, exist_ok=True)

    dataset = build_dataset(cfg.data.test)
    check_not_empty(dataset, "data.test")
    data_loader = build_test_loader(cfg, dataset, distributed)
    model = build_model(cfg, opts, dataset, device)

    if distributed:
        gpu_collect = opts.gpu_collect or bool((cfg.get("evaluation", {}) or {}).get("gpu_collect", False))
        outputs = multi_gpu_test(model, data_loader, opts.tmpdir, gpu_collect)
    else:
        outputs = single_gpu_test(model, data_loader, opts.show, opts.show_dir, opts.show_score_thr)
    if rank != 0:
        return None
    if opts.out:
        print(f"writing results to {opts.out}")
        save_results(outputs, opts.out, dataset)
    if opts.format_only:
        format_only(dataset, outputs, opts.eval_options, opts.work_dir)
    metrics = None
    if opts.eval:
        metrics = dataset.evaluate(outputs, **evaluation_kwargs(cfg, opts.eval, opts.eval_options))
        print_metrics(metrics, outputs)
        if opts.work_dir:
            write_metrics_json(opts.work_dir, opts.config, metrics)
    return metrics


def _test_worker(opts: TestOptions) -> None:
    run_test(opts)


def _launch_local(opts: TestOptions) -> None:
    """``--gpus N``: N processes of one group on this machine (NCCL on GPUs, gloo on the CPU)."""
    import torch

    from detcli.engine.launch import LaunchSpec, launch

    use_cuda = (opts.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if use_cuda and torch.cuda.device_count() < opts.gpus:
        raise DetError(f"--gpus {opts.gpus} asks for more GPUs than this machine has ({torch.cuda.device_count()})",
                       hint="lower --gpus, or test on the CPU with --device cpu")
    child = replace(opts, launcher="pytorch", device=opts.device or ("cuda" if use_cuda else "cpu"))
    launch(_test_worker, (child,), LaunchSpec(nprocs=opts.gpus, backend="nccl" if use_cuda else "gloo"))
    return None
