"""Results and annotation pickles load without running code, and every file mmdetection 2.x and
``det test --out`` write still loads: the 2.x structures pickled here as mmcv wrote them
(protocol 2, numpy 1.x module names), and with protocols 4 and 5."""

from __future__ import annotations

import builtins
import json
import os
import pickle
import struct

import numpy as np
import pytest
from error_lines import clean_error

from detcli.cli import main
from detcli.data import CustomDataset
from detcli.data.safe_pickle import UnsafePickleError, load_pickle, loads
from detcli.errors import DataError

NUMPY2_TO_1 = {"numpy._core.multiarray": "numpy.core.multiarray", "numpy._core.numeric": "numpy.core.numeric"}


class _Unframed(pickle._Pickler):
    """The pure-Python pickler without protocol-4 framing, so names can be rewritten byte by byte."""

    def dump(self, obj):
        self.write(pickle.PROTO + struct.pack("<B", self.proto))
        self.save(obj)
        self.write(pickle.STOP)


def numpy1_pickle(obj, protocol: int) -> bytes:
    """``obj`` pickled as numpy 1.x would have written it: ``numpy.core.*`` module names."""
    import io

    buf = io.BytesIO()
    _Unframed(buf, protocol=protocol).dump(obj)
    data = buf.getvalue()
    for new, old in NUMPY2_TO_1.items():
        if protocol < 4:  # GLOBAL opcode: "c<module>\n<name>\n"
            data = data.replace(f"c{new}\n".encode(), f"c{old}\n".encode())
        else:  # SHORT_BINUNICODE: length byte, then the text
            data = data.replace(b"\x8c" + bytes([len(new)]) + new.encode(), b"\x8c" + bytes([len(old)]) + old.encode())
    assert b"numpy._core" not in data and b"numpy.core.multiarray" in data
    return data


def _bbox_results():
    rng = np.random.RandomState(0)
    return [[rng.rand(n, 5).astype(np.float32) for n in (3, 0)] for _ in range(2)]


def _segm_results():
    from pycocotools import mask as mask_util

    masks = np.zeros((8, 8, 2), np.uint8, order="F")
    masks[1:4, 1:4, 0] = 1
    masks[4:7, 2:6, 1] = 1
    rles = mask_util.encode(masks)
    assert isinstance(rles[0]["counts"], bytes)
    bbox = [np.array([[1, 1, 4, 4, 0.9]], np.float32), np.array([[2, 4, 6, 7, 0.8]], np.float32)]
    return [(bbox, [[rles[0]], [rles[1]]])]


def _ms_rcnn_results():
    bbox, segm = _segm_results()[0]
    return [(bbox, (segm, [np.float32([0.7]), np.float32([0.6])]))]


def _middle_format():
    return [{"filename": "a.png", "width": 64, "height": 48,
             "ann": {"bboxes": np.array([[1, 2, 30, 40]], np.float32), "labels": np.array([2], np.int64),
                     "bboxes_ignore": np.zeros((0, 4), np.float32), "labels_ignore": np.zeros((0,), np.int64)}}]


def _same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert a == b and type(a) is type(b)


STRUCTURES = {"bbox": _bbox_results, "segm_rle": _segm_results, "ms_rcnn": _ms_rcnn_results,
              "proposals": lambda: [np.random.RandomState(1).rand(5, 5).astype(np.float32)],
              "middle": _middle_format, "scalars": lambda: [np.float32(0.5), np.int64(3), np.bool_(True), 1.5, None]}


@pytest.mark.parametrize("kind", sorted(STRUCTURES))
@pytest.mark.parametrize("protocol", [2, 4])
def test_2x_files_with_numpy1_names_load_unchanged(kind, protocol):
    obj = STRUCTURES[kind]()
    _same(obj, loads(numpy1_pickle(obj, protocol)))


@pytest.mark.parametrize("kind", sorted(STRUCTURES))
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_files_of_this_numpy_load_unchanged(kind, protocol, tmp_path):
    obj = STRUCTURES[kind]()
    path = tmp_path / "r.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    _same(obj, load_pickle(path))


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _Exec:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return builtins.exec, (self.code,)


def _payloads(marker):
    touch = f"touch {marker}"
    write = f"open({str(marker)!r}, 'w').write('ran')"
    return {
        "os.system": _System(touch),
        "builtins.exec": _Exec(write),
        "hidden in a results list": [[np.zeros((0, 5), np.float32)], [_System(touch)]],
        "hidden in an annotation": [{"filename": "a.png", "width": 4, "height": 4, "ann": _Exec(write)}],
    }


@pytest.mark.parametrize("name, refused", [("os.system", ".system"), ("builtins.exec", ".exec"),
                                           ("hidden in a results list", ".system"),
                                           ("hidden in an annotation", ".exec")])
@pytest.mark.parametrize("protocol", [2, 5])
def test_code_in_a_pickle_is_refused_and_never_runs(name, refused, protocol, tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_payloads(marker)[name], protocol=protocol))
    with pytest.raises(UnsafePickleError) as info:
        load_pickle(path, what="results file")
    message = str(info.value)
    assert message.startswith(f"refusing to load results file {path}: it asks for ") and "\n" not in message
    assert refused in message.split("asks for ")[1].split(",")[0]
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the control: plain pickle does run it
    assert marker.exists()


def test_refusal_names_the_global(tmp_path):
    path = tmp_path / "e.pkl"
    path.write_bytes(pickle.dumps(_Exec("1"), protocol=4))
    with pytest.raises(UnsafePickleError, match=r"e.pkl: it asks for builtins.exec, which no data file holds"):
        load_pickle(path)


def test_object_arrays_and_foreign_codecs_are_refused():
    with pytest.raises(UnsafePickleError, match=r"numpy.dtype \(an object dtype"):
        loads(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2))
    crafted = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x05\x00\x00\x00rot13\x86R."
    with pytest.raises(UnsafePickleError, match="_codecs.encode .encoding 'rot13'"):
        loads(crafted)


def test_damaged_pickle_is_one_data_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(_bbox_results(), protocol=2)[:40])
    with pytest.raises(DataError, match=r"cannot read data file .*cut.pkl: not a readable pickle"):
        load_pickle(path)


def test_eval_metric_refuses_a_crafted_results_file(trained, tmp_path, capsys):
    cfg, _ = trained
    marker = tmp_path / "ran"
    (tmp_path / "r.pkl").write_bytes(pickle.dumps(_System(f"touch {marker}"), protocol=2))
    line = clean_error(capsys, ["eval-metric", str(cfg), str(tmp_path / "r.pkl"), "--eval", "bbox"])
    assert f"refusing to load results file {tmp_path / 'r.pkl'}" in line and "system" in line
    assert not marker.exists()


def test_middle_format_pickle_with_code_is_refused_by_the_dataset(tmp_path):
    marker = tmp_path / "ran"
    ann = tmp_path / "ann.pkl"
    ann.write_bytes(pickle.dumps(_payloads(marker)["hidden in an annotation"], protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refusing to load annotation file .*ann.pkl: it asks for __builtin__.exec"):
        CustomDataset(ann_file=str(ann), pipeline=[], classes=("a",))
    assert not marker.exists()


def test_middle_format_pickle_from_numpy1_loads_into_the_dataset(tmp_path):
    ann = tmp_path / "ann.pkl"
    ann.write_bytes(numpy1_pickle(_middle_format(), protocol=2))
    ds = CustomDataset(ann_file=str(ann), pipeline=[], classes=("a", "b", "c"), test_mode=True)
    np.testing.assert_array_equal(ds.get_ann_info(0)["bboxes"], [[1, 2, 30, 40]])
    np.testing.assert_array_equal(ds.get_ann_info(0)["labels"], [2])


def test_det_test_pkl_and_json_give_the_same_metrics_in_eval_metric(trained, tmp_path, capsys):
    cfg, ckpt = trained
    assert main(["test", str(cfg), str(ckpt), "--out", str(tmp_path / "r.pkl")]) == 0
    assert main(["test", str(cfg), str(ckpt), "--out", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())  # COCO-style detections, not empty
    metrics = {}
    for name in ("r.pkl", "r.json"):
        capsys.readouterr()
        assert main(["eval-metric", str(cfg), str(tmp_path / name), "--eval", "bbox"]) == 0
        out = capsys.readouterr().out
        metrics[name] = [line for line in out.splitlines() if "bbox_mAP" in line]
    assert metrics["r.pkl"] and metrics["r.pkl"] == metrics["r.json"]


def test_results_json_converts_back_to_per_class_arrays(trained):
    from detcli.config import load_config
    from detcli.data import build_dataset
    from detcli.evaluation.results_json import results_from_coco_json

    cfg = load_config(trained[0])
    dataset = build_dataset(dict(cfg.data.test, test_mode=True))
    first, second = dataset.img_ids
    entries = [{"image_id": second, "category_id": 3, "bbox": [1.0, 2.0, 10.0, 20.0], "score": 0.5}]
    results = results_from_coco_json(entries, dataset)
    assert [len(r) for r in results] == [4, 4] and all(len(a) == 0 for a in results[0])
    np.testing.assert_allclose(results[1][2], [[1, 2, 11, 22, 0.5]])
    with pytest.raises(DataError, match="1 image ids are not in the test set"):
        results_from_coco_json([dict(entries[0], image_id=999)], dataset, "r.json")
