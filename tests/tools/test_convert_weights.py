"""``det convert regnet`` and ``det convert detectron``: fake source files written with the source
key layouts (pycls: stem/s<i>.b<j>.f.a...; Detectron: res<i>_<j>_branch2a_w...), converted, then
loaded into the matching backbones with every value where it belongs."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.cli import main
from detcli.errors import CheckpointError
from detcli.models.backbones import RegNet, ResNet
from detcli.tools.converters.detectron import convert_detectron_blobs, load_blobs
from detcli.tools.converters.regnet import convert_regnet

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "regnet"
MMDET = json.loads(gzip.open(FIXTURES / "state_dict_shapes.json.gz", "rt").read())


def _pycls_name(key: str) -> str:
    """mmdetection RegNet key -> pycls key (the layout pycls writes, spelled out independently)."""
    if key.startswith("conv1."):
        return "stem.conv." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "stem.bn." + key[len("bn1."):]
    stage, block, module, param = re.match(r"layer(\d+)\.(\d+)\.(.+)\.([^.]+)$", key).groups()
    pycls_module = {"conv1": "f.a", "conv2": "f.b", "conv3": "f.c", "bn1": "f.a_bn", "bn2": "f.b_bn",
                    "bn3": "f.c_bn", "downsample.0": "proj", "downsample.1": "bn"}[module]
    return f"s{stage}.b{int(block) + 1}.{pycls_module}.{param}"


@pytest.fixture
def pycls_file(tmp_path):
    gen = torch.Generator().manual_seed(0)
    state = {_pycls_name(k): torch.randn(shape, generator=gen) if shape else torch.tensor(7)
             for k, shape in MMDET["archs"]["tiny"]}
    state["head.fc.weight"] = torch.randn(10, 64, generator=gen)
    state["head.fc.bias"] = torch.randn(10, generator=gen)
    path = tmp_path / "RegNetX-tiny_dds.pyth"
    torch.save({"epoch": 100, "model_state": state, "optimizer_state": {"lr": 0.1}}, path)
    return path, state


def test_regnet_keys_become_mmdetection_names(pycls_file, tmp_path, capsys):
    src, state = pycls_file
    assert main(["convert", "regnet", str(src), str(tmp_path / "regnet.pth")]) == 0
    assert "regnet.pth" in capsys.readouterr().out
    converted = torch.load(tmp_path / "regnet.pth", weights_only=True)["state_dict"]
    expected_keys = [k for k, _ in MMDET["archs"]["tiny"]] + ["fc.weight", "fc.bias"]
    assert list(converted) == expected_keys
    assert torch.equal(converted["layer3.0.downsample.1.running_var"], state["s3.b1.bn.running_var"])
    assert torch.equal(converted["layer3.2.conv2.weight"], state["s3.b3.f.b.weight"])
    assert torch.equal(converted["fc.bias"], state["head.fc.bias"])
    model = RegNet(arch=MMDET["tiny_arch"])
    report = model.load_state_dict({k: v for k, v in converted.items() if not k.startswith("fc.")}, strict=True)
    assert not report.missing_keys and not report.unexpected_keys
    assert torch.equal(model.layer2[0].bn3.weight, state["s2.b1.f.c_bn.weight"])


def test_regnet_unknown_and_unconvertible_keys(tmp_path, capsys):
    torch.save({"model_state": {"stem.conv.weight": torch.ones(1), "s1.b1.f.a.weight": torch.ones(1),
                                "complexity": torch.ones(1)}}, tmp_path / "a.pyth")
    assert main(["convert", "regnet", str(tmp_path / "a.pyth"), str(tmp_path / "a.pth")]) == 0
    assert "not converted (1): complexity" in capsys.readouterr().out
    assert list(torch.load(tmp_path / "a.pth", weights_only=True)["state_dict"]) == ["conv1.weight",
                                                                                    "layer1.0.conv1.weight"]
    torch.save({"model_state": {"stem.conv.weight": torch.ones(1), "s1.b1.f.se.f_ex.0.weight": torch.ones(1)}},
               tmp_path / "y.pyth")
    capsys.readouterr()
    assert main(["convert", "regnet", str(tmp_path / "y.pyth"), str(tmp_path / "y.pth")]) == 1
    err = capsys.readouterr().err
    assert "cannot convert pycls key 's1.b1.f.se.f_ex.0.weight'" in err and "RegNetX" in err
    assert not (tmp_path / "y.pth").exists()
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a pycls RegNet checkpoint"):
        convert_regnet(tmp_path / "other.pth", tmp_path / "o.pth")


def _detectron_name(key: str) -> tuple[str, str]:
    """torchvision ResNet key -> (Detectron blob, kind), from Detectron's naming scheme."""
    if key.startswith("conv1."):
        return "conv1_w", "conv"
    if key.startswith("bn1."):
        return "res_conv1_bn", "bn"
    stage, block, module = re.match(r"layer(\d+)\.(\d+)\.(.+)\.[^.]+$", key).groups()
    prefix = f"res{int(stage) + 1}_{block}"
    names = {"conv1": ("_branch2a_w", "conv"), "conv2": ("_branch2b_w", "conv"), "conv3": ("_branch2c_w", "conv"),
             "bn1": ("_branch2a_bn", "bn"), "bn2": ("_branch2b_bn", "bn"), "bn3": ("_branch2c_bn", "bn"),
             "downsample.0": ("_branch1_w", "conv"), "downsample.1": ("_branch1_bn", "bn")}
    suffix, kind = names[module]
    return prefix + suffix, kind


def _write_detectron_pickle(path: Path, blobs: dict) -> None:
    """A protocol-2 pickle as Python 2 / numpy 1 wrote them (``numpy.core.multiarray`` globals)."""
    data = pickle.dumps({"blobs": blobs}, protocol=2)
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))


@pytest.fixture
def detectron_file(tmp_path):
    model = ResNet(depth=50, base_channels=4)
    rng = np.random.default_rng(0)
    blobs = {}
    for key, value in model.state_dict().items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        name, kind = _detectron_name(key)
        if kind == "bn":
            name += "_s" if key.endswith("weight") else "_b"
        blobs[name] = rng.standard_normal(tuple(value.shape)).astype(np.float32)
    blobs["pred_w"] = rng.standard_normal((10, 16)).astype(np.float32)
    blobs["pred_b"] = np.zeros(10, np.float32)
    path = tmp_path / "R-50.pkl"
    _write_detectron_pickle(path, blobs)
    return path, blobs


def test_detectron_resnet50_to_torchvision_keys(detectron_file, tmp_path, capsys):
    src, blobs = detectron_file
    assert b"numpy.core.multiarray" in src.read_bytes()
    assert main(["convert", "detectron", str(src), str(tmp_path / "r50.pth"), "50"]) == 0
    assert "not converted (2): pred_w, pred_b" in capsys.readouterr().out
    state = torch.load(tmp_path / "r50.pth", weights_only=True)["state_dict"]
    model = ResNet(depth=50, base_channels=4)
    report = model.load_state_dict(state, strict=False)
    assert not report.unexpected_keys
    assert all(k.endswith("num_batches_tracked") for k in report.missing_keys)
    np.testing.assert_array_equal(model.layer4[2].conv3.weight.detach().numpy(), blobs["res5_2_branch2c_w"])
    np.testing.assert_array_equal(model.layer2[0].downsample[1].weight.detach().numpy(), blobs["res3_0_branch1_bn_s"])
    np.testing.assert_array_equal(model.bn1.bias.detach().numpy(), blobs["res_conv1_bn_b"])
    # frozen affine BNs: identity statistics
    assert torch.all(model.layer3[5].bn2.running_mean == 0) and torch.all(model.layer3[5].bn2.running_var == 1)


def test_detectron_wrong_depth_names_the_missing_blob(detectron_file):
    src, _ = detectron_file
    with pytest.raises(CheckpointError, match=r"no blob 'res4_6_branch2a_w': not a Detectron ResNet-101"):
        convert_detectron_blobs(load_blobs(src), 101, source=str(src))
    with pytest.raises(CheckpointError, match="no Detectron ResNet of depth 34"):
        convert_detectron_blobs({}, 34)


def test_detectron_pickle_may_not_run_code(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"blobs": {"conv1_w": Payload()}}, protocol=2))
    with pytest.raises(CheckpointError, match=r"refusing to load (posix|os)\.system"):
        load_blobs(evil)
    assert not marker.exists()


def _py2_str(raw: bytes) -> bytes:
    return b"U" + bytes([len(raw)]) + raw  # SHORT_BINSTRING: a Python 2 str


def _py2_float_array(values: list[float]) -> bytes:
    """The opcodes Python 2 + numpy 1 write for a float32 vector (data as a byte str, numpy.core globals)."""
    data = np.asarray(values, "<f4").tobytes()
    return (b"cnumpy.core.multiarray\n_reconstruct\n" b"cnumpy\nndarray\n" b"K\x00\x85" + _py2_str(b"b")
            + b"\x87R" b"(K\x01" + b"K" + bytes([len(values)]) + b"\x85"
            + b"cnumpy\ndtype\n" + _py2_str(b"f4") + b"K\x00K\x01\x87R"
            + b"(K\x03" + _py2_str(b"<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
            + b"\x89" + b"T" + len(data).to_bytes(4, "little") + data + b"tb")


def test_python2_pickle_of_numpy_arrays_loads(tmp_path):
    path = tmp_path / "py2.pkl"
    path.write_bytes(b"\x80\x02}(" + _py2_str(b"conv1_w") + _py2_float_array([1.5, -2.0, 3.25]) + b"u.")
    blobs = load_blobs(path)
    assert list(blobs) == ["conv1_w"] and blobs["conv1_w"].dtype == np.float32
    np.testing.assert_array_equal(blobs["conv1_w"], [1.5, -2.0, 3.25])
