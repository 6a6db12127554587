"""Toy model, dataset and runner set-up for the engine tests (fast, independent of detcli.models/data)."""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from detcli.registry import DATASETS, MODELS


class ClsHead(nn.Module):
    """Stands for a detector head that has ``num_classes`` (checked by NumClassCheckHook)."""

    def __init__(self, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.fc_cls = nn.Linear(hidden, num_classes)


@MODELS.register_module(force=True)
class ToyModel(nn.Module):
    """y ~ linear regression through a small MLP; the class head only takes part through a tiny loss."""

    def __init__(self, dim: int = 4, hidden: int = 8, num_classes: int = 2, dropout: float = 0.0,
                 use_bn: bool = False, nan_at: int | None = None, train_cfg: Any = None,
                 test_cfg: Any = None) -> None:
        super().__init__()
        self.CLASSES = tuple("abcdefgh"[:num_classes])
        self.backbone = nn.Linear(dim, hidden)
        self.norm = nn.BatchNorm1d(hidden) if use_bn else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.reg = nn.Linear(hidden, 1)
        self.cls_head = ClsHead(hidden, num_classes)
        self.nan_at = nan_at
        self.calls = 0
        self.autocast_seen: list[bool] = []

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, return_loss: bool = True) -> Any:
        h = self.drop(F.relu(self.norm(self.backbone(x))))
        pred = self.reg(h).squeeze(1)
        if not return_loss:
            return [p for p in pred.detach().float().cpu().numpy()]
        losses = {"loss_reg": F.mse_loss(pred.float(), y.float()),
                  "loss_cls": 0.01 * self.cls_head.fc_cls(h).float().pow(2).mean()}
        return losses

    def train_step(self, data: dict, optimizer: Any) -> dict:
        self.autocast_seen.append(torch.is_autocast_enabled(data["x"].device.type))
        losses = self(**data)
        self.calls += 1
        if self.nan_at is not None and self.calls == self.nan_at:
            losses["loss_reg"] = losses["loss_reg"] * float("nan")
        loss = sum(losses.values())
        log_vars = {k: v.item() for k, v in losses.items()}
        log_vars["loss"] = loss.item()
        return dict(loss=loss, log_vars=log_vars, num_samples=len(data["x"]))

    def val_step(self, data: dict, optimizer: Any = None) -> dict:
        return self.train_step(data, optimizer)


@DATASETS.register_module(force=True)
class ToyDataset(Dataset):
    """``n`` samples of a noisy linear target; ``aug_noise`` adds np.random noise per fetch (augmentation)."""

    def __init__(self, n: int = 8, dim: int = 4, seed: int = 0, aug_noise: float = 0.0, num_classes: int = 2,
                 test_mode: bool = False, pipeline: Any = None) -> None:
        rng = np.random.RandomState(seed)
        self.x = rng.randn(n, dim).astype(np.float32)
        self.y = (self.x @ rng.randn(dim) + 0.5).astype(np.float32)
        self.aug_noise = aug_noise
        self.CLASSES = tuple("abcdefgh"[:num_classes])
        self.flag = np.zeros(n, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        x = self.x[i]
        if self.aug_noise:
            x = x + (np.random.randn(*x.shape) * self.aug_noise).astype(np.float32)
        return {"x": torch.from_numpy(np.asarray(x, dtype=np.float32)), "y": torch.tensor(self.y[i])}

    def evaluate(self, results: list, metric: str = "mse", logger: Any = None, **kwargs: Any) -> dict:
        mse = float(np.mean((np.asarray(results, dtype=np.float64) - self.y) ** 2))
        return {"bbox_mAP": np.float64(1.0 / (1.0 + mse)), "val_loss": mse}


def toy_test_fn(model: nn.Module, data_loader: DataLoader, **kwargs: Any) -> list:
    """A stand-in for single_gpu_test: predictions in dataset order."""
    model.eval()
    out: list = []
    with torch.no_grad():
        for batch in data_loader:
            out.extend(model(x=batch["x"], return_loss=False))
    model.train()
    return out


def loader(dataset: Dataset, batch_size: int = 2, shuffle: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=0)


def make_runner(work_dir: str | None, runner_type: str = "EpochBasedRunner", model: nn.Module | None = None,
                optimizer_cfg: dict | None = None, seed: int | None = 0, **runner_kwargs: Any) -> Any:
    from detcli.engine import build_optimizer, build_runner

    model = model if model is not None else ToyModel()
    optimizer = build_optimizer(model, optimizer_cfg or dict(type="SGD", lr=0.05, momentum=0.9, weight_decay=1e-4))
    return build_runner(dict(type=runner_type, **runner_kwargs), default_args=dict(
        model=model, optimizer=optimizer, work_dir=work_dir, logger=logging.getLogger("detcli"), meta={},
        seed=seed))


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    model = getattr(model, "module", model)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def ddp_worker(out_dir: str, steps: int, per_rank_batch: int) -> None:
    """Train the toy model under DDP (already initialised by the launcher); rank 0 saves the weights."""
    from torch.utils.data.distributed import DistributedSampler

    from detcli.engine.ddp import wrap_distributed
    from detcli.engine.dist import get_dist_info

    rank, world = get_dist_info()
    torch.manual_seed(0)
    model = wrap_distributed(ToyModel(), torch.device("cpu"))
    ds = ToyDataset(n=steps * per_rank_batch * world)
    sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=False)
    dl = DataLoader(ds, batch_size=per_rank_batch, sampler=sampler)
    runner = make_runner(None, model=model, max_epochs=1)
    runner.register_training_hooks(lr_config=None, optimizer_config={})
    runner.run([dl], [("train", 1)])
    if rank == 0:
        torch.save(state_of(runner.model), os.path.join(out_dir, "ddp.pth"))


def failing_worker(message: str) -> None:
    """Raises a user error on rank 1 only (rank 0 waits in a collective, as real runs would)."""
    from detcli.engine.dist import barrier, get_dist_info
    from detcli.errors import ConfigError

    if get_dist_info()[0] == 1:
        raise ConfigError(message, hint="fix it")
    barrier()
