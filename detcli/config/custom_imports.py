"""``custom_imports``: the modules a config asks to import so their classes get registered."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

from detcli.errors import ConfigError


def import_modules_from_strings(
    imports: str | list[str] | None, allow_failed_imports: bool = False, config_file: str | None = None
) -> ModuleType | list[ModuleType | None] | None:
    """Import each named module; a failure names the module (and the config that asked for it).

    With ``allow_failed_imports`` a failed import is a warning and yields ``None`` in its place.
    A single name returns a single module, a list returns a list.
    """
    if not imports:
        return None
    single = isinstance(imports, str)
    names = [imports] if single else imports
    source = f" (custom_imports of {config_file})" if config_file else ""
    if not isinstance(names, (list, tuple)):
        raise ConfigError(
            f"custom_imports must be a list of module names{source}, got {type(names).__name__}"
        )
    modules: list[ModuleType | None] = []
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"custom_imports entry {name!r} is not a module name{source}")
        try:
            modules.append(importlib.import_module(name))
        except ImportError as err:
            if not allow_failed_imports:
                raise ConfigError(
                    f"cannot import module '{name}'{source}: {err}",
                    hint="make sure the module is on PYTHONPATH (run from the folder that holds it)",
                ) from err
            warnings.warn(f"{name} failed to import and is ignored.", UserWarning, stacklevel=2)
            modules.append(None)
    return modules[0] if single else modules
