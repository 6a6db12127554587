"""custom_imports: modules named by a config are imported when it loads."""

from __future__ import annotations

import sys

import pytest

from detcli.config import Config, import_modules_from_strings
from detcli.errors import ConfigError


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    folder = tmp_path / "mods"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [n for n in sys.modules if n.startswith("detcli_test_mod")]:
        del sys.modules[name]


def test_config_imports_its_custom_modules(module_dir, write):
    (module_dir / "detcli_test_mod_a.py").write_text(
        "import builtins\nbuiltins._detcli_test_imported = 'yes'\n"
    )
    path = write("c.py", "custom_imports = dict(imports=['detcli_test_mod_a'], allow_failed_imports=False)\n")
    import builtins

    try:
        cfg = Config.fromfile(path)
        assert builtins._detcli_test_imported == "yes"
        assert cfg.custom_imports.imports == ["detcli_test_mod_a"]
    finally:
        builtins.__dict__.pop("_detcli_test_imported", None)


def test_import_can_be_switched_off(write):
    path = write("c.py", "custom_imports = dict(imports=['detcli_no_such_module'])\n")
    assert Config.fromfile(path, import_custom_modules=False).custom_imports.imports == [
        "detcli_no_such_module"
    ]


def test_failed_import_names_module_and_config(write):
    path = write(
        "c.py", "custom_imports = dict(imports=['detcli_no_such_module'], allow_failed_imports=False)\n"
    )
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    assert "detcli_no_such_module" in str(info.value) and str(path) in str(info.value)


def test_allowed_failures_warn_and_give_none():
    with pytest.warns(UserWarning, match="detcli_no_such_module"):
        modules = import_modules_from_strings(["json", "detcli_no_such_module"], allow_failed_imports=True)
    import json

    assert modules == [json, None]
    assert import_modules_from_strings("json") is json
    assert import_modules_from_strings(None) is None


def test_malformed_custom_imports(write):
    with pytest.raises(ConfigError, match="must be a dict"):
        Config.fromfile(write("a.py", "custom_imports = ['x']\n"))
    with pytest.raises(ConfigError, match="unknown keys: modules"):
        Config.fromfile(write("b.py", "custom_imports = dict(modules=['x'])\n"))
