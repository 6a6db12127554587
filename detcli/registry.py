"""Registries: map the ``type`` names used in configs to classes, and build them.

Each registry knows which package defines its built-in members and imports it on the
first lookup, so ``import detcli`` stays light (no torch) while
``MODELS.build(dict(type='ResNet', depth=50))`` always finds ``ResNet``.
Model-part registries (``BACKBONES``, ``NECKS``, ``HEADS``...) are one ``MODELS``
namespace under several names, as in mmdetection 2.x.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from detcli.build_args import check_build_args, unexpected_key_in
from detcli.errors import RegistryError

# Prefixes that configs written for other toolboxes put before type names.
_FOREIGN_SCOPES = ("mmdet.", "mmcv.", "detcli.")


class Registry:
    """A name -> class (or function) table with a ``build`` from config dicts."""

    def __init__(self, name: str, populate: str | tuple[str, ...] = ()) -> None:
        self.name = name
        self._module_dict: dict[str, Any] = {}
        self._populate = (populate,) if isinstance(populate, str) else tuple(populate)
        self._populated = not self._populate

    # -- lookup ---------------------------------------------------------------
    def _ensure_populated(self) -> None:
        if not self._populated:
            self._populated = True  # set first: the imports register into us
            for module in self._populate:
                try:
                    importlib.import_module(module)
                except ModuleNotFoundError as err:
                    if err.name != module:  # a real import error inside the package
                        raise

    @property
    def module_dict(self) -> dict[str, Any]:
        self._ensure_populated()
        return self._module_dict

    def __len__(self) -> int:
        return len(self.module_dict)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, items={sorted(self.module_dict)})"

    def get(self, key: str) -> Any | None:
        """The registered object for ``key`` (a scope prefix such as ``mmdet.`` is ignored)."""
        table = self.module_dict
        if key in table:
            return table[key]
        for scope in _FOREIGN_SCOPES:
            if key.startswith(scope) and key[len(scope):] in table:
                return table[key[len(scope):]]
        return None

    def suggestions(self, key: str, n: int = 3) -> list[str]:
        names = list(self.module_dict)
        close = difflib.get_close_matches(key, names, n=n, cutoff=0.5)
        if not close:  # case-insensitive fallback ('resnet' -> 'ResNet')
            lowered = {k.lower(): k for k in names}
            close = [lowered[k] for k in difflib.get_close_matches(key.lower(), list(lowered), n=n)]
        return close

    # -- registration ---------------------------------------------------------
    def _register(self, module: Any, names: str | list[str] | None, force: bool) -> None:
        if not (inspect.isclass(module) or inspect.isfunction(module)):
            raise TypeError(f"only classes and functions can be registered, got {type(module)}")
        if names is None:
            names = [module.__name__]
        elif isinstance(names, str):
            names = [names]
        for key in names:
            existing = self._module_dict.get(key)
            if existing is not None and existing is not module and not force:
                raise RegistryError(
                    f"{key!r} is already registered in the {self.name} registry "
                    f"(by {existing.__module__}.{existing.__qualname__})",
                    hint="pass force=True to replace it, or choose another name",
                )
            self._module_dict[key] = module

    def register_module(
        self,
        name: str | list[str] | None = None,
        force: bool = False,
        module: Any = None,
    ) -> Callable[[Any], Any] | Any:
        """Register a class: as ``@REG.register_module()``, or as ``REG.register_module(module=cls)``."""
        if not isinstance(force, bool):
            raise TypeError(f"force must be a bool, got {type(force)}")
        if inspect.isclass(name):  # tolerate the old ``@REG.register_module`` without call
            self._register(name, None, force)
            return name
        if module is not None:
            self._register(module, name, force)
            return module

        def decorator(cls: Any) -> Any:
            self._register(cls, name, force)
            return cls

        return decorator

    # mmdetection 2.6-era code sometimes writes ``@NECKS.register`` with no call
    def register(self, cls: Any) -> Any:
        self._register(cls, None, False)
        return cls

    def build(self, cfg: Mapping | None, default_args: Mapping | None = None) -> Any:
        return build_from_cfg(cfg, self, default_args)


def build_from_cfg(cfg: Mapping | None, registry: Registry, default_args: Mapping | None = None) -> Any:
    """Instantiate ``cfg['type']`` from ``registry`` with the other keys as arguments.

    ``cfg`` is not modified. ``default_args`` fill in keys the cfg does not set.
    """
    if not isinstance(cfg, Mapping):
        raise RegistryError(
            f"cannot build from the {registry.name} registry: expected a dict config, "
            f"got {type(cfg).__name__} ({cfg!r:.80})"
        )
    if "type" not in cfg and not (default_args and "type" in default_args):
        raise RegistryError(
            f"cannot build from the {registry.name} registry: the config has no 'type' key "
            f"(keys: {sorted(map(str, cfg))})"
        )
    args = dict(cfg)
    if default_args:
        for key, value in default_args.items():
            args.setdefault(key, value)
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            close = registry.suggestions(obj_type)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
            extra = f"; {hint}" if hint else ""
            raise RegistryError(
                f"{obj_type!r} is not in the {registry.name} registry{extra}",
                hint="register it with @register_module() and import it (custom_imports in the config)",
            )
    elif inspect.isclass(obj_type) or inspect.isfunction(obj_type):
        obj_cls = obj_type
    else:
        raise RegistryError(f"'type' must be a str or a class, got {type(obj_type).__name__}")
    check_build_args(obj_cls, args)
    try:
        return obj_cls(**args)
    except TypeError as err:
        config_error = unexpected_key_in(err, obj_cls, args)
        if config_error is not None:
            raise config_error from err
        # Name the class: a bare "unexpected keyword argument" does not say where.
        raise TypeError(f"{getattr(obj_cls, '__name__', obj_cls)}: {err}") from err


class ModelRegistry(Registry):
    """The model-part registry: a list of configs builds a ``Sequential`` of the parts, in order
    (mmdetection 2.x's ``neck=[dict(type='FPN', ...), dict(type='BFP', ...)]``; keys ``neck.0.*``)."""

    def build(self, cfg: Mapping | list | None, default_args: Mapping | None = None) -> Any:
        if isinstance(cfg, list):
            from detcli.models.layers import Sequential

            return Sequential(*(build_from_cfg(part, self, default_args) for part in cfg))
        return super().build(cfg, default_args)


# ---------------------------------------------------------------------------
# Every registry of the project.
# ---------------------------------------------------------------------------
MODELS = ModelRegistry("models", populate="detcli.models")
BACKBONES = MODELS
NECKS = MODELS
HEADS = MODELS
ROI_EXTRACTORS = MODELS
SHARED_HEADS = MODELS
LOSSES = MODELS
DETECTORS = MODELS

# Layers that model parts build from ``conv_cfg`` / ``norm_cfg`` / ``act_cfg`` / ``roi_layer``.
CONV_LAYERS = Registry("conv layers", populate="detcli.models.layers")
NORM_LAYERS = Registry("norm layers", populate="detcli.models.layers")
ACTIVATION_LAYERS = Registry("activation layers", populate="detcli.models.layers")
UPSAMPLE_LAYERS = Registry("upsample layers", populate="detcli.models.layers")
PLUGIN_LAYERS = Registry("plugin layers", populate="detcli.models.layers")
ROI_LAYERS = Registry("roi layers", populate="detcli.models.layers")

# Task modules (anchors, box coding, assignment, sampling, overlaps).
PRIOR_GENERATORS = Registry("prior generators", populate="detcli.models.task_modules")
ANCHOR_GENERATORS = PRIOR_GENERATORS
BBOX_ASSIGNERS = Registry("bbox assigners", populate="detcli.models.task_modules")
BBOX_SAMPLERS = Registry("bbox samplers", populate="detcli.models.task_modules")
BBOX_CODERS = Registry("bbox coders", populate="detcli.models.task_modules")
IOU_CALCULATORS = Registry("iou calculators", populate="detcli.models.task_modules")

# Data.
DATASETS = Registry("datasets", populate="detcli.data")
PIPELINES = Registry("pipelines", populate="detcli.data.pipelines")

# Engine.
HOOKS = Registry("hooks", populate="detcli.engine")
OPTIMIZERS = Registry("optimizers", populate="detcli.engine")
OPTIMIZER_BUILDERS = Registry("optimizer builders", populate="detcli.engine")
RUNNERS = Registry("runners", populate="detcli.engine")

__all__ = [
    "Registry", "build_from_cfg", "MODELS", "BACKBONES", "NECKS", "HEADS", "ROI_EXTRACTORS",
    "SHARED_HEADS", "LOSSES", "DETECTORS", "CONV_LAYERS", "NORM_LAYERS", "ACTIVATION_LAYERS",
    "UPSAMPLE_LAYERS", "PLUGIN_LAYERS", "ROI_LAYERS", "PRIOR_GENERATORS", "ANCHOR_GENERATORS",
    "BBOX_ASSIGNERS", "BBOX_SAMPLERS", "BBOX_CODERS", "IOU_CALCULATORS", "DATASETS", "PIPELINES",
    "HOOKS", "OPTIMIZERS", "OPTIMIZER_BUILDERS", "RUNNERS",
]
