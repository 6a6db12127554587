"""Config files (.py/.json/.yaml) with ``_base_`` inheritance and overrides, mmcv 1.x compatible.

``Config.fromfile(path)`` loads a file and its bases, ``cfg.merge_from_dict`` applies
``--cfg-options`` (parsed by ``parse_cfg_options``), ``cfg.dump``/``cfg.pretty_text`` write it out.
"""

from detcli.config.config import Config, load_config
from detcli.config.config_dict import ConfigDict
from detcli.config.custom_imports import import_modules_from_strings
from detcli.config.overrides import DictAction, parse_cfg_options

__all__ = [
    "Config",
    "ConfigDict",
    "DictAction",
    "import_modules_from_strings",
    "load_config",
    "parse_cfg_options",
]
