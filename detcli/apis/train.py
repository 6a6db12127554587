"""Training entry points: ``train_detector`` (mmdetection 2.x API) and ``train_from_config``
(what ``det train`` runs in each process)."""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from detcli.engine.checkpoint_files import find_resumable_checkpoint, remove_stale_temp_files
from detcli.engine.seeding import init_random_seed, set_random_seed
from detcli.errors import CheckpointError, ConfigError

__all__ = ["train_detector", "set_random_seed", "init_random_seed", "auto_scale_lr", "TrainArgs",
           "train_from_config", "run_train"]


def auto_scale_lr(cfg: Any, distributed: bool, logger: logging.Logger) -> None:
    """Scale ``optimizer.lr`` linearly with the total batch size when ``auto_scale_lr.enable``.

    The configs' learning rates are set for ``base_batch_size`` (16 = 8 GPUs x 2 images).
    """
    scale_cfg = cfg.get("auto_scale_lr") or {}
    if not scale_cfg.get("enable", False):
        logger.info("Automatic scaling of learning rate (LR) has been disabled.")
        return
    base = scale_cfg.get("base_batch_size")
    if base is None:
        return
    from detcli.engine.dist import get_dist_info

    num_gpus = get_dist_info()[1] if distributed else len(cfg.get("gpu_ids") or [0])
    per_gpu = cfg["data"]["train_dataloader"].get("samples_per_gpu", 2)
    batch = num_gpus * per_gpu
    logger.info("Training with %d GPU(s) with %d samples per GPU. The total batch size is %d.", num_gpus, per_gpu, batch)
    if batch != base:
        scaled = batch / base * cfg["optimizer"]["lr"]
        logger.info("LR has been automatically scaled from %s to %s", cfg["optimizer"]["lr"], scaled)
        cfg["optimizer"]["lr"] = scaled
    else:
        logger.info("The batch size matches the base batch size %d; LR stays %s", base, cfg["optimizer"]["lr"])


def _optimizer_hook(cfg: Any, distributed: bool) -> Any:
    """``optimizer_config`` as a hook config, switched to its mixed-precision twin under ``fp16``."""
    from detcli.engine.hooks.optimizer import Fp16OptimizerHook, GradientCumulativeFp16OptimizerHook

    opt_cfg = dict(cfg.get("optimizer_config") or {})
    fp16 = cfg.get("fp16")
    if fp16 is None:
        return opt_cfg
    kind = opt_cfg.pop("type", "OptimizerHook")
    if kind in ("OptimizerHook", "Fp16OptimizerHook"):
        return Fp16OptimizerHook(**opt_cfg, **dict(fp16), distributed=distributed)
    if kind in ("GradientCumulativeOptimizerHook", "GradientCumulativeFp16OptimizerHook"):
        return GradientCumulativeFp16OptimizerHook(**opt_cfg, **dict(fp16), distributed=distributed)
    raise ConfigError(f"fp16 training cannot be combined with optimizer_config.type={kind!r}",
                      hint="remove fp16, or use OptimizerHook/GradientCumulativeOptimizerHook")


def _device_of(cfg: Any, distributed: bool) -> torch.device:
    name = cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for, but no CUDA GPU is available", hint="use --device cpu")
        if distributed:
            from detcli.engine.dist import get_local_rank

            return torch.device("cuda", get_local_rank() % torch.cuda.device_count())
        ids = list(cfg.get("gpu_ids") or [0])
        return torch.device("cuda", ids[0]) if name == "cuda" else torch.device(name)
    from detcli.apis.inference import check_device

    return check_device(name)  # 'tpu' and other names torch does not know: one line


def _loader_args(cfg: Any, key: str, defaults: dict) -> dict:
    import inspect

    from detcli.data import build_dataloader

    args = {**defaults, **dict(cfg["data"].get(key) or {})}
    accepted = inspect.signature(build_dataloader).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        args = {k: v for k, v in args.items() if k in accepted}
    return args


def _want_progress_bar() -> bool:
    return sys.stderr.isatty() and not os.environ.get("DETCLI_NO_PROGRESS")


def train_detector(model: Any, dataset: Any, cfg: Any, distributed: bool = False, validate: bool = False,
                   timestamp: str | None = None, meta: dict | None = None) -> Any:
    """Train ``model`` on ``dataset`` (one or a list, matching ``cfg.workflow``) as ``cfg`` says.

    Returns the runner (its ``model`` holds the trained weights).
    """
    from detcli.data import build_dataloader, build_dataset
    from detcli.data.bad_images import leaf_datasets
    from detcli.data.datasets.sanity import check_training_set
    from detcli.engine.config_compat import compat_cfg
    from detcli.engine.ddp import prepare_norm_layers, wrap_distributed
    from detcli.engine.hooks import (
        BadImageReportHook,
        DistEvalHook,
        DistSamplerSeedHook,
        EvalHook,
        ProgressBarHook,
    )
    from detcli.engine.inference_setup import refuse_if_fused
    from detcli.engine.memory_format import apply_memory_format
    from detcli.engine.optimizers import build_optimizer
    from detcli.engine.runners import EpochBasedRunner, build_runner

    refuse_if_fused(model, "train")
    cfg = compat_cfg(cfg)
    logger = logging.getLogger("detcli")
    datasets = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    check_training_set(datasets[0])
    device = _device_of(cfg, distributed)
    gpu_ids = list(cfg.get("gpu_ids") or [0])
    train_args = _loader_args(cfg, "train_dataloader", dict(
        samples_per_gpu=2, workers_per_gpu=2, num_gpus=len(gpu_ids), dist=distributed, seed=cfg.get("seed"),
        runner_type=cfg["runner"]["type"], persistent_workers=False))
    data_loaders = [build_dataloader(ds, **train_args) for ds in datasets]

    model = apply_memory_format(prepare_norm_layers(model, distributed, device, logger), cfg, device)
    if distributed:
        model = wrap_distributed(model, device, find_unused_parameters=cfg.get("find_unused_parameters", False))
    else:
        model = model.to(device)

    auto_scale_lr(cfg, distributed, logger)
    optimizer = build_optimizer(model, cfg["optimizer"])
    runner = build_runner(cfg["runner"], default_args=dict(
        model=model, optimizer=optimizer, work_dir=cfg.get("work_dir"), logger=logger, meta=meta,
        seed=cfg.get("seed"), device=device, deterministic=bool(cfg.get("deterministic", False))))
    if timestamp is not None:
        runner.timestamp = timestamp  # the .log and .log.json of a run share it

    runner.register_training_hooks(
        cfg.get("lr_config"), _optimizer_hook(cfg, distributed), cfg.get("checkpoint_config"),
        cfg.get("log_config"), cfg.get("momentum_config"), custom_hooks_config=cfg.get("custom_hooks"))
    if isinstance(runner, EpochBasedRunner):
        runner.register_hook(DistSamplerSeedHook())
    if any(getattr(leaf, "bad_images", None) is not None for ds in datasets for leaf in leaf_datasets(ds)):
        runner.register_hook(BadImageReportHook(), priority="LOW")
    if runner.rank == 0 and _want_progress_bar():
        runner.register_hook(ProgressBarHook(), priority="LOWEST")

    if validate and not cfg["data"].get("val"):
        logger.warning("the config has no data.val: no evaluation during training")
        validate = False
    if validate:
        val_args = _loader_args(cfg, "val_dataloader", dict(
            samples_per_gpu=1, workers_per_gpu=2, dist=distributed, shuffle=False, persistent_workers=False))
        val_cfg = cfg["data"]["val"]
        if val_args.get("samples_per_gpu", 1) > 1:
            import detcli.data as data_pkg

            replace = getattr(data_pkg, "replace_ImageToTensor", None)
            if replace is not None:
                val_cfg["pipeline"] = replace(val_cfg["pipeline"])
        val_loader = build_dataloader(build_dataset(val_cfg, dict(test_mode=True)), **val_args)
        eval_cfg = dict(cfg.get("evaluation") or {})
        eval_cfg["by_epoch"] = cfg["runner"]["type"] != "IterBasedRunner"
        hook_cls = DistEvalHook if distributed else EvalHook
        runner.register_hook(hook_cls(val_loader, **eval_cfg), priority="LOW")

    resume_from = cfg.get("resume_from")
    if resume_from is None and cfg.get("auto_resume"):
        resume_from = find_resumable_checkpoint(cfg.get("work_dir") or ".", logger)
        logger.info("auto-resume: %s", resume_from or f"no checkpoint in {cfg.get('work_dir')}, starting fresh")
    if resume_from:
        if not os.path.isfile(resume_from):
            raise CheckpointError(f"resume checkpoint not found: {resume_from}",
                                  hint="check --resume-from, or use --auto-resume to pick the newest in work_dir")
        runner.resume(resume_from)
    elif cfg.get("load_from"):
        load_weights(runner.model, cfg["load_from"], logger)
    runner.run(data_loaders, cfg.get("workflow") or [("train", 1)])
    return runner


def load_weights(model: Any, filename: str, logger: logging.Logger) -> None:
    """``load_from``: the checkpoint's weights where names and shapes fit; the rest is reported.

    Fine-tuning to another ``num_classes`` leaves the class layers at their initial
    values (a warning lists them); a checkpoint sharing no weights with the model fails.
    """
    from detcli.engine.checkpoint import load_checkpoint_file, load_state_dict, revise_keys, state_dict_of

    state = revise_keys(state_dict_of(load_checkpoint_file(filename)))
    report = load_state_dict(model, state, strict=False)
    loaded = len(state) - len(report.unexpected) - len(report.mismatched)
    if loaded == 0:
        target = type(getattr(model, "module", model)).__name__
        example = next(iter(state), "nothing")
        raise CheckpointError(f"{filename} has no weights for {target}: none of its {len(state)} keys fit "
                              f"(e.g. {example!r})", hint="load_from needs a checkpoint of the same kind of model")
    logger.info("load_from %s: %d of %d weights loaded", filename, loaded, len(state))
    if not report.clean:
        logger.warning("load_from %s: %s", filename, report)


# ---------------------------------------------------------------------------
# `det train`
# ---------------------------------------------------------------------------
@dataclass
class TrainArgs:
    """The options of ``det train`` (tools/train.py's flags)."""

    config: str
    work_dir: str | None = None
    resume_from: str | None = None
    auto_resume: bool = False
    no_validate: bool = False
    gpu_ids: list[int] | None = None
    device: str | None = None
    seed: int | None = None
    diff_seed: bool = False
    deterministic: bool = False
    cfg_options: dict = field(default_factory=dict)
    launcher: str = "none"
    amp: bool = False
    auto_scale_lr: bool = False
    gpus: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None


def _load_config(args: TrainArgs) -> Any:
    from detcli.config import Config
    from detcli.config.required import require_keys

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    require_keys(cfg, args.config, ("model", "data", "data.train", "optimizer"), "det train")
    if args.auto_scale_lr:
        if cfg.get("auto_scale_lr") and "base_batch_size" in cfg["auto_scale_lr"]:
            cfg["auto_scale_lr"]["enable"] = True
        else:
            cfg["auto_scale_lr"] = {"enable": True, "base_batch_size": 16}
            logging.getLogger("detcli").warning("--auto-scale-lr: the config has no auto_scale_lr; "
                                                "assuming base_batch_size=16 (8 GPUs x 2 images)")
    if args.amp and cfg.get("fp16") is None:
        cfg["fp16"] = {"loss_scale": "dynamic"}
    if args.work_dir is not None:
        cfg["work_dir"] = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg["work_dir"] = os.path.join("./work_dirs", os.path.splitext(os.path.basename(args.config))[0])
    if args.resume_from is not None:
        cfg["resume_from"] = args.resume_from
    cfg["auto_resume"] = args.auto_resume or bool(cfg.get("auto_resume"))
    if args.device is not None:
        cfg["device"] = args.device
    if args.deterministic:
        cfg["deterministic"] = True
    cfg["gpu_ids"] = list(args.gpu_ids[:1]) if args.gpu_ids else list(cfg.get("gpu_ids") or [0])
    return cfg


def _process_settings(cfg: Any) -> None:
    """``cudnn_benchmark`` and ``opencv_num_threads`` from the config (mmdetection 2.x runtime keys)."""
    if cfg.get("cudnn_benchmark", False):
        torch.backends.cudnn.benchmark = True
    if cfg.get("opencv_num_threads") is not None:
        import cv2

        cv2.setNumThreads(int(cfg["opencv_num_threads"]))


def _ensure_writable(work_dir: str) -> None:
    path = os.path.abspath(work_dir)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        raise ConfigError(f"cannot write to work_dir {path}: {err.strerror or err}",
                          hint="choose a writable directory with --work-dir") from err


def _run_seed(args: TrainArgs, cfg: Any) -> int | None:
    """``--seed``, else the config's, else (when resuming) the seed of the run being continued."""
    if args.seed is not None:
        return args.seed
    if cfg.get("seed") is not None:
        return cfg["seed"]
    resume = cfg.get("resume_from")
    if not resume and cfg.get("auto_resume"):
        resume = find_resumable_checkpoint(cfg["work_dir"], warn=False)
    if resume and os.path.isfile(resume):
        try:
            meta = torch.load(resume, map_location="cpu", weights_only=True, mmap=True).get("meta") or {}
        except Exception:  # noqa: BLE001 - an unreadable file is reported when it is resumed
            return None
        return meta.get("seed")
    return None


def train_from_config(args: TrainArgs, distributed: bool = False) -> Any:
    """One training process: config, logging, seeds, model, datasets, then ``train_detector``."""
    from detcli.engine.dist import broadcast_object, get_dist_info
    from detcli.engine.env_info import collect_env, format_env
    from detcli.engine.logger import close_run_handlers, get_root_logger

    cfg = _load_config(args)
    _process_settings(cfg)
    rank, world_size = get_dist_info()
    if distributed:
        cfg["gpu_ids"] = list(range(world_size))
        if not str(cfg.get("device") or "").startswith("cuda"):  # N CPU processes share the cores
            local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    work_dir = cfg["work_dir"]
    if rank == 0:
        _ensure_writable(work_dir)
        cfg.dump(os.path.join(work_dir, os.path.basename(args.config)))
    timestamp = broadcast_object(time.strftime("%Y%m%d_%H%M%S", time.localtime()))
    logger = get_root_logger(os.path.join(work_dir, f"{timestamp}.log"), cfg.get("log_level", "INFO"))
    try:
        if rank == 0:
            remove_stale_temp_files(work_dir, logger)
        env_info = format_env(collect_env())
        dash = "-" * 60 + "\n"
        logger.info("Environment info:\n%s%s\n%s", dash, env_info, dash)
        logger.info("Distributed training: %s", distributed)
        logger.info("Config:\n%s", cfg.pretty_text)
        seed = init_random_seed(_run_seed(args, cfg))
        seed = seed + rank if args.diff_seed else seed
        logger.info("Set random seed to %d, deterministic: %s", seed, args.deterministic)
        set_random_seed(seed, deterministic=args.deterministic)
        cfg["seed"] = seed
        meta = dict(env_info=env_info, config=cfg.pretty_text, seed=seed, exp_name=os.path.basename(args.config))
        return _build_and_train(cfg, args, distributed, timestamp, meta)
    finally:
        close_run_handlers(logger)


def _build_and_train(cfg: Any, args: TrainArgs, distributed: bool, timestamp: str, meta: dict) -> Any:
    import copy

    from detcli import __version__
    from detcli.data import build_dataset
    from detcli.models import build_detector

    model = build_detector(cfg["model"], train_cfg=cfg.get("train_cfg"), test_cfg=cfg.get("test_cfg"))
    if hasattr(model, "init_weights"):
        model.init_weights()
    datasets = [build_dataset(cfg["data"]["train"])]
    workflow = cfg.get("workflow") or [("train", 1)]
    if len(workflow) == 2:
        val_cfg = copy.deepcopy(cfg["data"]["val"])
        train_cfg = cfg["data"]["train"]
        val_cfg["pipeline"] = train_cfg.get("pipeline", (train_cfg.get("dataset") or {}).get("pipeline"))
        datasets.append(build_dataset(val_cfg))
    if cfg.get("checkpoint_config") is not None:
        ckpt_cfg = dict(cfg["checkpoint_config"])
        ckpt_cfg["meta"] = dict(detcli_version=__version__, CLASSES=datasets[0].CLASSES)
        cfg["checkpoint_config"] = ckpt_cfg
    model.CLASSES = datasets[0].CLASSES
    return train_detector(model, datasets, cfg, distributed=distributed, validate=not args.no_validate,
                          timestamp=timestamp, meta=meta)


def _backend(cfg: Any, device: str) -> str:
    from detcli.engine.dist import default_backend

    wanted = (cfg.get("dist_params") or {}).get("backend")
    backend = default_backend(device)
    if wanted and wanted != backend:
        if wanted == "nccl" and backend == "gloo":
            logging.getLogger("detcli").info("dist_params.backend='nccl' needs GPUs; using gloo on CPU")
            return backend
        return wanted
    return backend


def _distributed_worker(args: TrainArgs) -> None:
    train_from_config(args, distributed=True)


def run_train(args: TrainArgs) -> None:
    """``det train``: one process, N local processes (``--gpus N``), or one of torchrun/srun's."""
    from detcli.engine.dist import init_dist
    from detcli.engine.launch import LaunchSpec, launch

    cfg = _load_config(args)  # fail on config errors before starting any process
    device = cfg.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if not str(device).startswith("cuda"):
        from detcli.apis.inference import check_device

        check_device(device)
    if args.launcher == "none" and (args.gpus > 1 or args.nnodes > 1):
        backend = _backend(cfg, str(device))
        if str(device).startswith("cuda") and args.gpus > torch.cuda.device_count():
            raise ConfigError(f"--gpus {args.gpus} but only {torch.cuda.device_count()} CUDA GPUs are visible",
                              hint="lower --gpus, or use --device cpu for CPU processes")
        args.device = str(device)
        spec = LaunchSpec(nprocs=args.gpus, backend=backend, nnodes=args.nnodes, node_rank=args.node_rank,
                          master_addr=args.master_addr, master_port=args.master_port)
        launch(_distributed_worker, (args,), spec)
    elif args.launcher != "none":
        backend = _backend(cfg, str(device))
        params = dict(cfg.get("dist_params") or {})
        params.pop("backend", None)
        if args.master_port is not None:
            params["port"] = args.master_port
        init_dist(args.launcher, backend=backend, **params)
        try:
            train_from_config(args, distributed=True)
        finally:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    else:
        train_from_config(args, distributed=False)
