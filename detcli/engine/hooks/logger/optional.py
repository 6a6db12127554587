"""Import an optional logging package, or fail before training starts with what to install."""

from __future__ import annotations

import importlib
from typing import Any

from detcli.errors import ConfigError


def require(module: str, package: str, hook: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"{hook} in log_config.hooks needs the {package} package, which is not installed ({err})",
            hint=f"pip install {package}, or remove {hook} from log_config.hooks",
        ) from err
