"""Channels-last models: the per-device default, the config switch, and unchanged results."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from detcli.config import Config
from detcli.engine.memory_format import apply_memory_format, wants_channels_last
from detcli.errors import ConfigError
from detcli.models import build_detector

_spec = importlib.util.spec_from_file_location(
    "two_stage_tiny", Path(__file__).resolve().parents[1] / "models" / "test_two_stage.py")
two_stage = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(two_stage)


def test_default_is_channels_last_for_cpu_training_only():
    assert wants_channels_last(Config({}), "cpu") is True
    assert wants_channels_last(Config({}), "cpu", training=False) is False
    assert wants_channels_last(Config({}), torch.device("cuda", 0)) is False
    assert wants_channels_last(Config(dict(channels_last=True)), "cuda") is True
    assert wants_channels_last(Config(dict(channels_last=True)), "cpu", training=False) is True
    assert wants_channels_last(Config(dict(channels_last=False)), "cpu") is False


def test_init_detector_infers_nchw_unless_the_config_opts_in(tmp_path):
    from detcli.apis import init_detector

    cfg = Config(dict(model=copy.deepcopy(two_stage.tiny_cfg(with_mask=False))))
    model = init_detector(cfg, device="cpu")
    assert all(w.is_contiguous() for w in _conv_weights(model))
    cfg = Config(dict(model=copy.deepcopy(two_stage.tiny_cfg(with_mask=False)), channels_last=True))
    model = init_detector(cfg, device="cpu")
    assert any(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
               for w in _conv_weights(model))


def test_a_non_boolean_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="channels_last must be True, False or None"):
        wants_channels_last(Config(dict(channels_last="yes")), "cpu")


def _conv_weights(model):
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_channels_last_changes_layout_but_not_results_or_checkpoints():
    torch.manual_seed(0)
    nchw = build_detector(copy.deepcopy(two_stage.tiny_cfg(with_mask=True)))
    nchw.init_weights()
    nchw.eval()
    cl = copy.deepcopy(nchw)
    assert apply_memory_format(cl, Config({}), "cpu") is cl
    assert all(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
               for w in _conv_weights(cl) if w.shape[-1] > 1)
    apply_memory_format(nchw, Config(dict(channels_last=False)), "cpu")
    assert all(w.is_contiguous() for w in _conv_weights(nchw))

    imgs, metas = two_stage._test_inputs()
    with torch.no_grad():
        ref = nchw.simple_test(imgs[0], metas[0], rescale=True)
        got = cl.simple_test(imgs[0], metas[0], rescale=True)
    (ref_boxes, ref_masks), (got_boxes, got_masks) = ref[0], got[0]
    assert sum(len(b) for b in ref_boxes) > 0
    for a, b in zip(ref_boxes, got_boxes):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(ref_masks, got_masks):
        assert len(a) == len(b) and all((x == y).mean() > 0.99 for x, y in zip(a, b))

    # a channels-last state dict loads into a default (NCHW) model as the same numbers
    fresh = build_detector(copy.deepcopy(two_stage.tiny_cfg(with_mask=True)))
    fresh.load_state_dict(cl.state_dict())
    for (name, a), b in zip(fresh.state_dict().items(), nchw.state_dict().values()):
        assert torch.equal(a, b), name
