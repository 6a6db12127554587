"""Config mistakes and CLI misuse: each is one ``error:`` line (no traceback) naming the file or key
and what to do, raised where the cause is known (before any training step)."""

from __future__ import annotations

import pytest
from error_lines import clean_error

from .conftest import write_config

# (name, extra config text or --cfg-options, what the line must say)
CONFIG_MISTAKES = [
    ("unknown key", ["model.backbone.deph=50"],
     ["ResNet got an unknown key 'deph'; did you mean 'depth'?", "valid keys: depth,"]),
    ("unknown key passed through **kwargs", ["model.bbox_head.feat_channel=16"],
     ["RetinaHead got an unknown key 'feat_channel'; did you mean 'feat_channels'"]),
    ("learning rate as a word", ["optimizer.lr=fast"], ["SGD: lr='fast' should be a number or Tensor; got str"]),
    ("depth as a word", ["model.backbone.depth=fifty"], ["ResNet: depth='fifty' should be an int; got str"]),
    ("batch size as a word", ["data.samples_per_gpu=two"], ["data.samples_per_gpu='two' should be a whole number"]),
    ("negative workers", ["data.workers_per_gpu=-1"], ["data.workers_per_gpu=-1 should be a whole number >= 0"]),
    ("neck in_channels vs backbone", ["model.neck.in_channels=[8,16,32,32]"],
     ["neck FPN in_channels [8, 16, 32, 32] do not match the channels of backbone ResNet's 4 outputs "
      "[8, 16, 32, 64]", "out_indices (0, 1, 2, 3)"]),
    ("neck vs a wider backbone", ["model.backbone.base_channels=16"],
     ["neck FPN in_channels [8, 16, 32, 64] do not match", "[16, 32, 64, 128]"]),
    ("_delete_ in a list item", "train_pipeline[0] = dict(type='LoadImageFromFile', _delete_=True)\n"
                                "data['train']['pipeline'] = train_pipeline\n",
     ["LoadImageFromFile: its config still holds _delete_=True"]),
    ("unknown type", ["model.neck.type=FPNN"], ["'FPNN' is not in the models registry; did you mean 'FPN'"]),
]


@pytest.mark.parametrize("name, change, needles", CONFIG_MISTAKES, ids=[c[0] for c in CONFIG_MISTAKES])
def test_config_mistake_is_one_line_before_training(name, change, needles, shapes, tmp_path, capsys):
    extra = change if isinstance(change, str) else ""
    cfg = write_config(tmp_path / "cfg.py", shapes, extra)
    options = ["--cfg-options", *change] if isinstance(change, list) else []
    line = clean_error(capsys, ["train", str(cfg), "--work-dir", str(tmp_path / "w"), *options])
    for needle in needles:
        assert needle in line
    assert not list((tmp_path / "w").glob("*.pth"))  # failed before any training step


def test_empty_config_file_says_it_has_no_model(tmp_path, capsys):
    (tmp_path / "empty.py").write_text("")
    line = clean_error(capsys, ["train", str(tmp_path / "empty.py"), "--work-dir", str(tmp_path / "w")])
    assert f"config {tmp_path / 'empty.py'} has no 'model' key, which det train needs (the file defines nothing)" in line
    (tmp_path / "empty.json").write_text("{}")
    line = clean_error(capsys, ["test", str(tmp_path / "empty.json"), "x.pth", "--eval", "bbox"])
    assert "has no 'model' key, which det test needs" in line


def test_config_without_a_test_set_names_the_missing_key(shapes, tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.py", shapes, "data = dict(_delete_=True, train=data['train'], val=data['val'])\n")
    line = clean_error(capsys, ["eval-metric", str(cfg), str(tmp_path / "r.pkl"), "--eval", "bbox"])
    assert "'data' has no 'test', which det eval-metric needs" in line


def test_syntax_error_and_bad_override_syntax(shapes, tmp_path, capsys):
    (tmp_path / "bad.py").write_text("model = dict(\n")
    line = clean_error(capsys, ["train", str(tmp_path / "bad.py")])
    assert f"syntax error in config {tmp_path / 'bad.py'}" in line
    cfg = write_config(tmp_path / "cfg.py", shapes)
    line = clean_error(capsys, ["train", str(cfg), "--cfg-options", "model.backbone.depth"])
    assert "bad override 'model.backbone.depth': expected KEY=VALUE" in line
    line = clean_error(capsys, ["train", str(cfg), "--cfg-options", "data.train.pipeline.9.x=1"])
    assert "index 9 is out of range for 'data.train.pipeline'" in line


@pytest.mark.parametrize("command", ["train", "test"])
def test_unknown_device_is_one_line(command, trained, tmp_path, capsys):
    cfg, ckpt = trained
    args = ["train", str(cfg), "--work-dir", str(tmp_path / "w")] if command == "train" else \
        ["test", str(cfg), str(ckpt), "--eval", "bbox"]
    line = clean_error(capsys, [*args, "--device", "tpu"])
    assert "unknown device 'tpu'" in line


def test_out_in_an_unwritable_place_names_the_users_path(trained, tmp_path, capsys):
    cfg, ckpt = trained
    line = clean_error(capsys, ["test", str(cfg), str(ckpt), "--out", "/proc/r.pkl"])
    assert line.endswith("cannot write results to /proc/r.pkl: No such file or directory")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = clean_error(capsys, ["test", str(cfg), str(ckpt), "--out", str(blocker / "r.json")])
    assert f"cannot write results to {blocker / 'r.json'}" in line and ".tmp" not in line


def test_empty_test_set_names_the_annotation_file(shapes, trained, tmp_path, capsys):
    import json

    coco = json.loads((shapes / "annotations" / "instances_val.json").read_text())
    coco["images"], coco["annotations"] = [], []
    (tmp_path / "empty_val.json").write_text(json.dumps(coco))
    cfg = write_config(tmp_path / "cfg.py", shapes, f"data['test']['ann_file'] = '{tmp_path / 'empty_val.json'}'\n")
    line = clean_error(capsys, ["test", str(cfg), str(trained[1]), "--eval", "bbox"])
    assert f"the data.test set is empty: {tmp_path / 'empty_val.json'} lists no images" in line


def test_eval_metric_misuse(trained, tmp_path, capsys):
    cfg, _ = trained
    (tmp_path / "r.txt").write_text("x")
    line = clean_error(capsys, ["eval-metric", str(cfg), str(tmp_path / "r.txt"), "--eval", "bbox"])
    assert "is neither a .pkl nor a .json results file" in line
    (tmp_path / "r.json").write_text('{"images": []}')
    line = clean_error(capsys, ["eval-metric", str(cfg), str(tmp_path / "r.json"), "--eval", "bbox"])
    assert "holds a dict, not a list of COCO detections" in line


def test_empty_concatenated_test_set_names_every_annotation_file():
    from detcli.data.datasets.wrappers import ConcatDataset
    from detcli.errors import DataError
    from detcli.tools.test_runner import check_not_empty

    class Empty(list):
        def __init__(self, ann_file):
            super().__init__()
            self.ann_file = ann_file
            self.CLASSES = ("a",)
            self.flag = []

    with pytest.raises(DataError, match=r"the data.test set is empty: a.json, b.json list no images"):
        check_not_empty(ConcatDataset([Empty("a.json"), Empty("b.json")]), "data.test")
