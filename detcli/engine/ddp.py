"""DistributedDataParallel for detectors whose training entry is ``train_step``, not ``forward``.

DDP prepares gradient synchronisation inside its ``forward``. The runner calls
``model.train_step(batch, optimizer)``, so the wrapper routes that call through DDP's
forward: for exactly one call, the wrapped module's ``forward`` is ``train_step``
(the detector's own ``self(**batch)`` inside it reaches the real forward again).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class DetDistributedDataParallel(DistributedDataParallel):
    def train_step(self, *args: Any, **kwargs: Any) -> Any:
        return self._through_forward("train_step", *args, **kwargs)

    def val_step(self, *args: Any, **kwargs: Any) -> Any:
        return self._through_forward("val_step", *args, **kwargs)

    def _through_forward(self, name: str, *args: Any, **kwargs: Any) -> Any:
        module = self.module
        method = getattr(module, name)

        def once(*a: Any, **k: Any) -> Any:
            module.__dict__.pop("forward", None)
            return method(*a, **k)

        module.forward = once
        try:
            return self(*args, **kwargs)
        finally:
            module.__dict__.pop("forward", None)

    # attributes the hooks and tools read from the detector itself
    @property
    def CLASSES(self) -> Any:  # noqa: N802 - the mmdetection 2.x attribute name
        return getattr(self.module, "CLASSES", None)


def wrap_distributed(model: nn.Module, device: torch.device, find_unused_parameters: bool = False) -> nn.Module:
    """``model`` on ``device`` inside DDP (inputs are moved by the runner, so no device_ids)."""
    import inspect

    model = model.to(device)
    # buffers (BN statistics) are not re-broadcast at every forward, as mmdetection 2.x trains
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DetDistributedDataParallel(model, find_unused_parameters=find_unused_parameters, **sync)


class _BatchNormXd(nn.modules.batchnorm._BatchNorm):
    """BatchNorm that accepts any input rank, like SyncBatchNorm does."""

    def _check_input_dim(self, input: torch.Tensor) -> None:  # noqa: A002 - torch's signature
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input, got {input.dim()}D")


def revert_sync_batchnorm(module: nn.Module) -> tuple[nn.Module, int]:
    """Replace every SyncBatchNorm by a plain BatchNorm with the same state; returns the count."""
    count = 0
    if isinstance(module, nn.SyncBatchNorm):
        bn = _BatchNormXd(module.num_features, module.eps, module.momentum, module.affine,
                          module.track_running_stats)
        bn.load_state_dict(module.state_dict())
        bn.train(module.training)
        for p_new, p_old in zip(bn.parameters(), module.parameters()):
            p_new.requires_grad_(p_old.requires_grad)
        return bn, 1
    for name, child in module.named_children():
        new, n = revert_sync_batchnorm(child)
        if new is not child:
            setattr(module, name, new)
        count += n
    return module, count


def prepare_norm_layers(model: nn.Module, distributed: bool, device: torch.device, logger: Any) -> nn.Module:
    """SyncBN needs several GPU processes; anywhere else it becomes plain BN (with a note)."""
    if distributed and device.type == "cuda":
        return model
    model, n = revert_sync_batchnorm(model)
    if n:
        where = "on CPU" if distributed else "without distributed training"
        logger.info("SyncBN %s is plain BatchNorm: converted %d layers", where, n)
    return model
