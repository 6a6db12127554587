"""Weight initialisation: the classic helpers and the ``init_cfg`` initialisers.

``init_cfg`` is a dict (or list of dicts) such as
``dict(type='Normal', layer='Conv2d', std=0.01, override=dict(name='retina_cls', bias_prob=0.01))``:
``layer`` selects sub-modules by class name (or a base class name), ``override``
targets one named child with its own settings.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from detcli.errors import ConfigError
from detcli.registry import Registry

logger = logging.getLogger("detcli")

INITIALIZERS = Registry("initializers")


# -- classic helpers -------------------------------------------------------------
def _fill_bias(module: nn.Module, bias: float) -> None:
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def _has_weight(module: nn.Module) -> bool:
    return getattr(module, "weight", None) is not None


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    if _has_weight(module):
        nn.init.constant_(module.weight, val)
    _fill_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = "normal") -> None:
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if _has_weight(module):
        if distribution == "uniform":
            nn.init.xavier_uniform_(module.weight, gain=gain)
        else:
            nn.init.xavier_normal_(module.weight, gain=gain)
    _fill_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    if _has_weight(module):
        nn.init.normal_(module.weight, mean, std)
    _fill_bias(module, bias)


def trunc_normal_init(
    module: nn.Module, mean: float = 0, std: float = 1, a: float = -2, b: float = 2, bias: float = 0
) -> None:
    if _has_weight(module):
        nn.init.trunc_normal_(module.weight, mean, std, a, b)
    _fill_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    if _has_weight(module):
        nn.init.uniform_(module.weight, a, b)
    _fill_bias(module, bias)


def kaiming_init(
    module: nn.Module,
    a: float = 0,
    mode: str = "fan_out",
    nonlinearity: str = "relu",
    bias: float = 0,
    distribution: str = "normal",
) -> None:
    if distribution not in ("uniform", "normal"):
        raise ValueError(f"distribution must be 'uniform' or 'normal', got {distribution!r}")
    if _has_weight(module):
        if distribution == "uniform":
            nn.init.kaiming_uniform_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
        else:
            nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _fill_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    kaiming_init(module, a=1, mode="fan_in", nonlinearity="leaky_relu", bias=bias, distribution="uniform")


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias that makes ``sigmoid(bias) == prior_prob`` (focal-loss heads start at 0.01)."""
    return float(-math.log((1 - prior_prob) / prior_prob))


# -- init_cfg initialisers ---------------------------------------------------------
class _LayerInit:
    """Applies ``fn`` to sub-modules whose class (or a direct base class) is named in ``layer``."""

    def __init__(self, *, bias: float = 0, bias_prob: float | None = None,
                 layer: str | Sequence[str] | None = None) -> None:
        self.bias = bias_init_with_prob(bias_prob) if bias_prob is not None else bias
        self.layer = [layer] if isinstance(layer, str) else list(layer or [])
        self.wholemodule = False  # set by ``override``: every sub-module is a target

    def init_one(self, module: nn.Module) -> None:
        raise NotImplementedError

    def __call__(self, module: nn.Module) -> None:
        def visit(m: nn.Module) -> None:
            names = {type(m).__name__, *(base.__name__ for base in type(m).__bases__)}
            if self.wholemodule or names & set(self.layer):
                self.init_one(m)

        module.apply(visit)


@INITIALIZERS.register_module(name="Constant")
class ConstantInit(_LayerInit):
    def __init__(self, val: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.val = val

    def init_one(self, module: nn.Module) -> None:
        constant_init(module, self.val, self.bias)


@INITIALIZERS.register_module(name="Xavier")
class XavierInit(_LayerInit):
    def __init__(self, gain: float = 1, distribution: str = "normal", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gain = gain
        self.distribution = distribution

    def init_one(self, module: nn.Module) -> None:
        xavier_init(module, self.gain, self.bias, self.distribution)


@INITIALIZERS.register_module(name="Normal")
class NormalInit(_LayerInit):
    def __init__(self, mean: float = 0, std: float = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = mean
        self.std = std

    def init_one(self, module: nn.Module) -> None:
        normal_init(module, self.mean, self.std, self.bias)


@INITIALIZERS.register_module(name="TruncNormal")
class TruncNormalInit(_LayerInit):
    def __init__(self, mean: float = 0, std: float = 1, a: float = -2, b: float = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean, self.std, self.a, self.b = mean, std, a, b

    def init_one(self, module: nn.Module) -> None:
        trunc_normal_init(module, self.mean, self.std, self.a, self.b, self.bias)


@INITIALIZERS.register_module(name="Uniform")
class UniformInit(_LayerInit):
    def __init__(self, a: float = 0, b: float = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.a, self.b = a, b

    def init_one(self, module: nn.Module) -> None:
        uniform_init(module, self.a, self.b, self.bias)


@INITIALIZERS.register_module(name="Kaiming")
class KaimingInit(_LayerInit):
    def __init__(self, a: float = 0, mode: str = "fan_out", nonlinearity: str = "relu",
                 distribution: str = "normal", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.a, self.mode, self.nonlinearity, self.distribution = a, mode, nonlinearity, distribution

    def init_one(self, module: nn.Module) -> None:
        kaiming_init(module, self.a, self.mode, self.nonlinearity, self.bias, self.distribution)


@INITIALIZERS.register_module(name="Caffe2Xavier")
class Caffe2XavierInit(KaimingInit):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(a=1, mode="fan_in", nonlinearity="leaky_relu", distribution="uniform", **kwargs)


@INITIALIZERS.register_module(name="Pretrained")
class PretrainedInit:
    """Load weights from a checkpoint (``prefix='backbone.'`` takes a sub-module's part)."""

    def __init__(self, checkpoint: str, prefix: str | None = None, map_location: Any = "cpu") -> None:
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location or "cpu"
        self.wholemodule = False

    def __call__(self, module: nn.Module) -> None:
        from detcli.engine.checkpoint import (
            load_checkpoint,
            load_checkpoint_file,
            load_state_dict,
            state_dict_of,
        )

        if self.prefix is None:
            logger.info("load model from: %s", self.checkpoint)
            load_checkpoint(module, self.checkpoint, map_location=self.map_location, strict=False)
            return
        prefix = self.prefix if self.prefix.endswith(".") else self.prefix + "."
        logger.info("load %s in model from: %s", prefix, self.checkpoint)
        full = state_dict_of(load_checkpoint_file(self.checkpoint, map_location=self.map_location))
        part = {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}
        if not part:
            raise ConfigError(
                f"init_cfg prefix {prefix!r} matches no key in {self.checkpoint}",
                hint="check the prefix (e.g. 'backbone.') against the checkpoint's keys",
            )
        report = load_state_dict(module, part, strict=False)
        if not report.clean:
            logger.warning("loading %s (%s): %s", self.checkpoint, prefix, report)


def _build_initializer(cfg: Mapping, wholemodule: bool = False) -> Any:
    init = INITIALIZERS.build(cfg)
    init.wholemodule = wholemodule
    return init


def initialize(module: nn.Module, init_cfg: Mapping | Sequence[Mapping]) -> None:
    """Apply one ``init_cfg`` (a dict or a list of dicts) to ``module``."""
    if not isinstance(init_cfg, (Mapping, list, tuple)):
        raise ConfigError(f"init_cfg must be a dict or a list of dicts, got {type(init_cfg).__name__}")
    for cfg in [init_cfg] if isinstance(init_cfg, Mapping) else init_cfg:
        cfg = dict(copy.deepcopy(cfg))
        override = cfg.pop("override", None)
        _build_initializer(cfg)(module)
        if override is None:
            continue
        cfg.pop("layer", None)
        for item in [override] if isinstance(override, Mapping) else override:
            item = dict(copy.deepcopy(item))
            name = item.pop("name", None)
            if name is None:
                raise ConfigError(f"init_cfg override {item} needs a 'name' key")
            if not item:  # only a name: reuse the outer settings
                item = dict(cfg)
            elif "type" not in item:
                raise ConfigError(f"init_cfg override for {name!r} needs a 'type' key, got {item}")
            target = getattr(module, name, None)
            if not isinstance(target, nn.Module):
                raise ConfigError(
                    f"init_cfg override names {name!r} but {type(module).__name__} has no such sub-module"
                )
            _build_initializer(item, wholemodule=True)(target)
