"""Per-parameter optimizer options (``optimizer.paramwise_cfg``).

- ``custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}``: parameters whose full
  name contains the key (the longest matching key wins) get those multipliers;
- ``bias_lr_mult``, ``bias_decay_mult``: biases of non-norm layers;
- ``norm_decay_mult``: weights and biases of BatchNorm/GroupNorm/LayerNorm/InstanceNorm;
- ``dwconv_decay_mult``: depth-wise convolutions;
- ``dcn_offset_lr_mult``: the offset convolutions of deformable convolutions;
- ``bypass_duplicate``: skip parameters shared by several modules instead of failing.
Every parameter becomes its own param group (mmdetection 2.x layout, so optimizer
states of its checkpoints line up).
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from detcli.errors import ConfigError
from detcli.registry import OPTIMIZER_BUILDERS, OPTIMIZERS

logger = logging.getLogger("detcli")

_NORMS = (_BatchNorm, _InstanceNorm, GroupNorm, LayerNorm)
_DCN_NAMES = {"DeformConv2d", "ModulatedDeformConv2d"}


def _is_dcn(module: nn.Module) -> bool:
    return any(c.__name__ in _DCN_NAMES for c in type(module).__mro__)


def _warn_on_torch_default_lr(optimizer_type: Any) -> None:
    """A torch optimizer built without ``lr`` silently takes torch's default: say which."""
    cls = OPTIMIZERS.get(optimizer_type) if isinstance(optimizer_type, str) else optimizer_type
    if not (inspect.isclass(cls) and cls.__module__.startswith("torch.optim")):
        return  # a custom optimizer decides for itself whether it has a learning rate
    param = inspect.signature(cls).parameters.get("lr")
    if param is not None and param.default is not inspect.Parameter.empty:
        logger.warning("the optimizer config (%s) has no 'lr': torch's default lr=%s is used",
                       cls.__name__, param.default)


@OPTIMIZER_BUILDERS.register_module()
class DefaultOptimizerConstructor:
    def __init__(self, optimizer_cfg: Mapping, paramwise_cfg: Mapping | None = None) -> None:
        if not isinstance(optimizer_cfg, Mapping):
            raise ConfigError(f"optimizer must be a dict, got {type(optimizer_cfg).__name__}")
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = dict(paramwise_cfg) if paramwise_cfg else {}
        self.base_lr = optimizer_cfg.get("lr")
        self.base_wd = optimizer_cfg.get("weight_decay")
        self._validate()
        if self.base_lr is None:
            _warn_on_torch_default_lr(optimizer_cfg.get("type"))

    def _validate(self) -> None:
        custom_keys = self.paramwise_cfg.get("custom_keys", {})
        if not isinstance(custom_keys, Mapping):
            raise ConfigError(f"paramwise_cfg.custom_keys must be a dict, got {type(custom_keys).__name__}")
        # An optimizer may take no 'lr' at all (the guide's MyOptimizer(a, b, c)); only LR
        # multipliers need a base LR to multiply.
        lr_mults = [k for k in ("bias_lr_mult", "dcn_offset_lr_mult") if k in self.paramwise_cfg]
        lr_mults += [f"custom_keys.{k}.lr_mult" for k, v in custom_keys.items() if "lr_mult" in v]
        if lr_mults and self.base_lr is None:
            raise ConfigError(f"paramwise_cfg sets {lr_mults[0]} but the optimizer config has no 'lr' to multiply",
                              hint="add lr to the optimizer config, or drop the lr multipliers")
        needs_wd = any("decay_mult" in v for v in custom_keys.values()) or any(
            k in self.paramwise_cfg for k in ("bias_decay_mult", "norm_decay_mult", "dwconv_decay_mult"))
        if needs_wd and self.base_wd is None:
            raise ConfigError("paramwise_cfg sets decay multipliers but the optimizer has no weight_decay",
                              hint="add weight_decay to the optimizer config")

    def add_params(self, params: list[dict], module: nn.Module, prefix: str = "", is_dcn_module: bool = False) -> None:
        """Append one param group per parameter of ``module`` (recursively), with its multipliers."""
        cfg = self.paramwise_cfg
        custom_keys = cfg.get("custom_keys", {})
        keys = sorted(sorted(custom_keys), key=len, reverse=True)
        is_norm = isinstance(module, _NORMS)
        is_dwconv = isinstance(module, nn.Conv2d) and module.in_channels == module.groups
        for name, param in module.named_parameters(recurse=False):
            group: dict[str, Any] = {"params": [param]}
            if not param.requires_grad:
                params.append(group)
                continue
            if cfg.get("bypass_duplicate", False) and any(param is p for g in params for p in g["params"]):
                warnings.warn(f"{prefix} is duplicate. It is skipped since bypass_duplicate=True", stacklevel=2)
                continue
            full_name = f"{prefix}.{name}"
            key = next((k for k in keys if k in full_name), None)
            if key is not None:
                if self.base_lr is not None:
                    group["lr"] = self.base_lr * custom_keys[key].get("lr_mult", 1.0)
                if self.base_wd is not None:
                    group["weight_decay"] = self.base_wd * custom_keys[key].get("decay_mult", 1.0)
            else:
                if self.base_lr is not None and name == "bias" and not (is_norm or is_dcn_module):
                    group["lr"] = self.base_lr * cfg.get("bias_lr_mult", 1.0)
                if (self.base_lr is not None and "conv_offset" in prefix and is_dcn_module
                        and isinstance(module, nn.Conv2d)):
                    group["lr"] = self.base_lr * cfg.get("dcn_offset_lr_mult", 1.0)
                if self.base_wd is not None:
                    if is_norm:
                        group["weight_decay"] = self.base_wd * cfg.get("norm_decay_mult", 1.0)
                    elif is_dwconv:
                        group["weight_decay"] = self.base_wd * cfg.get("dwconv_decay_mult", 1.0)
                    elif name == "bias" and not is_dcn_module:
                        group["weight_decay"] = self.base_wd * cfg.get("bias_decay_mult", 1.0)
            params.append(group)
        child_dcn = _is_dcn(module)
        for child_name, child in module.named_children():
            self.add_params(params, child, f"{prefix}.{child_name}" if prefix else child_name, child_dcn)

    def __call__(self, model: nn.Module) -> torch.optim.Optimizer:
        model = getattr(model, "module", model)
        cfg = dict(self.optimizer_cfg)
        if not self.paramwise_cfg:
            cfg["params"] = model.parameters()
        else:
            groups: list[dict] = []
            self.add_params(groups, model)
            cfg["params"] = groups
        return OPTIMIZERS.build(cfg)
