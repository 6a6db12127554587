"""Registry behaviour: registration forms, lookup, build_from_cfg and its errors."""

from __future__ import annotations

import pytest

from detcli.errors import ConfigError, RegistryError
from detcli.registry import (
    BACKBONES,
    DETECTORS,
    HEADS,
    LOSSES,
    MODELS,
    NECKS,
    Registry,
    build_from_cfg,
)


def make_registry() -> Registry:
    reg = Registry("toys")

    @reg.register_module()
    class ResNet:
        def __init__(self, depth=50, frozen=False):
            self.depth = depth
            self.frozen = frozen

    @reg.register_module(name="Alias")
    class Named:
        def __init__(self):
            pass

    return reg


def test_model_part_registries_are_one_namespace():
    assert BACKBONES is MODELS and NECKS is MODELS and HEADS is MODELS
    assert LOSSES is MODELS and DETECTORS is MODELS


def test_decorator_and_name_registration():
    reg = make_registry()
    assert "ResNet" in reg and "Alias" in reg and "Named" not in reg
    assert reg.get("ResNet").__name__ == "ResNet"
    assert len(reg) == 2


def test_register_as_call_and_list_of_names():
    reg = Registry("toys")

    class Thing:
        pass

    returned = reg.register_module(module=Thing)
    assert returned is Thing and reg.get("Thing") is Thing

    class Other:
        pass

    reg.register_module(name=["A", "B"], module=Other)
    assert reg.get("A") is Other and reg.get("B") is Other


def test_duplicate_name_needs_force():
    reg = make_registry()

    class ResNet:  # noqa: D401 - a second class with a taken name
        pass

    with pytest.raises(RegistryError, match="already registered"):
        reg.register_module(module=ResNet)
    reg.register_module(module=ResNet, force=True)
    assert reg.get("ResNet") is ResNet


def test_build_uses_cfg_and_default_args_without_mutating():
    reg = make_registry()
    cfg = {"type": "ResNet", "depth": 101}
    obj = build_from_cfg(cfg, reg, default_args={"frozen": True, "depth": 18})
    assert (obj.depth, obj.frozen) == (101, True)  # cfg wins over defaults
    assert cfg == {"type": "ResNet", "depth": 101}
    assert reg.build({"type": "ResNet"}).depth == 50


def test_build_accepts_a_class_and_foreign_scope_prefix():
    reg = make_registry()
    cls = reg.get("ResNet")
    assert isinstance(build_from_cfg({"type": cls}, reg), cls)
    assert isinstance(build_from_cfg({"type": "mmdet.ResNet"}, reg), cls)


def test_unknown_type_names_registry_and_suggests():
    reg = make_registry()
    with pytest.raises(RegistryError) as info:
        reg.build({"type": "ResNt"})
    message = str(info.value)
    assert "'ResNt'" in message and "toys registry" in message and "did you mean 'ResNet'" in message


def test_unknown_type_case_insensitive_suggestion():
    reg = make_registry()
    with pytest.raises(RegistryError, match="did you mean 'ResNet'"):
        reg.build({"type": "resnet"})


@pytest.mark.parametrize("bad", [None, ["type", "ResNet"], "ResNet"])
def test_non_dict_cfg_fails_clearly(bad):
    with pytest.raises(RegistryError, match="expected a dict config"):
        build_from_cfg(bad, make_registry())


def test_cfg_without_type_fails_clearly():
    with pytest.raises(RegistryError, match="no 'type' key"):
        build_from_cfg({"depth": 50}, make_registry())


def test_bad_argument_names_the_class_the_key_and_the_closest_keys():
    with pytest.raises(ConfigError, match=r"ResNet got an unknown key 'dpeth'; did you mean 'depth'\? "
                                          r"\(valid keys: depth, frozen\)"):
        make_registry().build({"type": "ResNet", "dpeth": 50})


def test_unknown_key_passed_on_through_kwargs_is_found_when_called():
    reg = Registry("toys")

    class Base:
        def __init__(self, num_classes: int, in_channels: int = 8) -> None:
            self.num_classes = num_classes

    @reg.register_module()
    class Head(Base):
        def __init__(self, stacked_convs: int = 4, **kwargs) -> None:
            super().__init__(**kwargs)

    assert reg.build({"type": "Head", "num_classes": 3}).num_classes == 3
    with pytest.raises(ConfigError, match=r"Head got an unknown key 'in_channel'; did you mean 'in_channels'"):
        reg.build({"type": "Head", "num_classes": 3, "in_channel": 8})


def test_wrong_scalar_type_names_class_key_and_expected_type():
    reg = Registry("toys")

    @reg.register_module()
    class Opt:
        def __init__(self, lr: float, momentum: float = 0.9, name: str | None = None, steps: list | None = None):
            self.lr = lr

    assert reg.build({"type": "Opt", "lr": 1, "steps": "anything: containers are not checked"}).lr == 1
    with pytest.raises(ConfigError, match=r"Opt: lr='fast' should be a number; got str"):
        reg.build({"type": "Opt", "lr": "fast"})
    with pytest.raises(ConfigError, match=r"Opt: name=3 should be a string or None; got int"):
        reg.build({"type": "Opt", "lr": 0.1, "name": 3})


def test_delete_flag_left_in_a_list_item_is_one_line():
    with pytest.raises(ConfigError, match=r"ResNet: its config still holds _delete_=True, which only works"):
        make_registry().build({"type": "ResNet", "depth": 18, "_delete_": True})


def test_registries_import_their_package_on_first_lookup(tmp_path, monkeypatch):
    pkg = tmp_path / "toy_pkg_for_registry"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from tests_registry_holder import REG\n"
        "@REG.register_module()\n"
        "class Lazy:\n    pass\n"
    )
    (tmp_path / "tests_registry_holder.py").write_text(
        "from detcli.registry import Registry\nREG = Registry('lazy', populate='toy_pkg_for_registry')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import tests_registry_holder

    assert tests_registry_holder.REG._module_dict == {}
    assert tests_registry_holder.REG.get("Lazy").__name__ == "Lazy"
