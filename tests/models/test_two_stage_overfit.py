"""One image, a tiny model, a short optimisation loop: Faster and Mask R-CNN must learn it (losses fall > 5x)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torchvision.ops import box_iou

from detcli.models import build_detector

_spec = importlib.util.spec_from_file_location("two_stage_cases", Path(__file__).with_name("test_two_stage.py"))
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def _total(losses: dict) -> torch.Tensor:
    return sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
               for k, v in losses.items() if "loss" in k)


@pytest.mark.parametrize("with_mask", [False, True], ids=["faster_rcnn", "mask_rcnn"])
def test_overfits_one_image(with_mask):
    torch.manual_seed(0)
    model = build_detector(cases.tiny_cfg(with_mask))
    model.init_weights()
    model.train()
    batch = cases.train_batch(with_mask)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    # the lr drop settles the noise of random RoI sampling, as in a real schedule
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[120], gamma=0.1)
    history = []
    for _ in range(160):
        losses = model(return_loss=True, **batch)
        loss = _total(losses)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append({k: float(_total({k: v}).detach()) for k, v in losses.items() if "loss" in k})
        history[-1]["total"] = float(loss.detach())
    first = history[0]["total"]
    last = sum(h["total"] for h in history[-5:]) / 5
    assert first / last > 5, f"total loss {first:.3f} -> {last:.3f}"
    if with_mask:
        assert history[-1]["loss_mask"] < history[0]["loss_mask"] / 3

    # what it learnt shows in inference: each object is found with its class
    model.eval()
    with torch.no_grad():
        result = model(return_loss=False, rescale=True, img=[batch["img"]], img_metas=[batch["img_metas"]])[0]
    bbox_result = result[0] if with_mask else result
    for gt, label in zip(batch["gt_bboxes"][0], batch["gt_labels"][0].tolist()):
        dets = torch.from_numpy(bbox_result[label][:, :4])
        assert len(dets) > 0, f"class {label} not detected"
        assert box_iou(gt[None], dets).max() > 0.7
        if with_mask:
            best = int(box_iou(gt[None], dets).argmax())
            x1, y1, x2, y2 = gt.int().tolist()
            mask = result[1][label][best]
            assert mask[y1:y2, x1:x2].mean() > 0.8 and mask.sum() < 1.3 * (x2 - x1) * (y2 - y1)
