"""``BaseModule``: an ``nn.Module`` that initialises itself from an ``init_cfg``.

``init_weights()`` first applies the module's own ``init_cfg``, then lets every
direct child that has an ``init_weights`` do its part, so specific children win over
generic rules. A ``Pretrained`` init_cfg stops there: its weights must not be
overwritten by the children's random init.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from .weight_init import initialize

logger = logging.getLogger("detcli")


class BaseModule(nn.Module):
    """``nn.Module`` + ``init_cfg`` + ``init_weights()``."""

    def __init__(self, init_cfg: Mapping | Sequence[Mapping] | None = None) -> None:
        super().__init__()
        self._is_init = False
        self.init_cfg = copy.deepcopy(init_cfg)

    @property
    def is_init(self) -> bool:
        return self._is_init

    def init_weights(self) -> None:
        if self._is_init:
            logger.debug("init_weights of %s called more than once", type(self).__name__)
            return
        if self.init_cfg:
            logger.debug("initialize %s with init_cfg %s", type(self).__name__, self.init_cfg)
            initialize(self, self.init_cfg)
            if isinstance(self.init_cfg, Mapping) and self.init_cfg.get("type") == "Pretrained":
                self._is_init = True
                return
        for child in self.children():
            if hasattr(child, "init_weights"):
                child.init_weights()
        self._is_init = True

    def extra_repr(self) -> str:
        return f"init_cfg={self.init_cfg}" if self.init_cfg else ""


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` with ``init_cfg``."""

    def __init__(self, *args: nn.Module, init_cfg: Mapping | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *args)


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` with ``init_cfg``."""

    def __init__(self, modules: Iterable[nn.Module] | None = None, init_cfg: Mapping | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleList.__init__(self, modules)


class ModuleDict(BaseModule, nn.ModuleDict):
    """``nn.ModuleDict`` with ``init_cfg``."""

    def __init__(self, modules: Mapping[str, Any] | None = None, init_cfg: Mapping | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleDict.__init__(self, modules)
