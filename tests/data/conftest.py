"""Small generated data sets shared by the data tests (made once per session)."""

from __future__ import annotations

import numpy as np
import pytest

IMG_NORM = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


@pytest.fixture(scope="session")
def shapes_root(tmp_path_factory):
    """A tiny shapes set (12 train / 4 val images of 128 px) with VOC XML and middle format."""
    from detcli.data.synthetic import generate_shapes

    root = tmp_path_factory.mktemp("shapes")
    generate_shapes(root, num_train=12, num_val=4, size=128, seed=1, voc=True, middle=True)
    return root


@pytest.fixture
def make_results():
    return _make_results


def _make_results(img, bboxes=None, labels=None, masks=None, seg=None):
    """A pipeline dict as LoadImageFromFile + LoadAnnotations would leave it."""
    results = dict(img=img, img_shape=img.shape, ori_shape=img.shape, img_fields=["img"], filename="x.png",
                   ori_filename="x.png", bbox_fields=[], mask_fields=[], seg_fields=[])
    if bboxes is not None:
        results["gt_bboxes"] = np.asarray(bboxes, np.float32).reshape(-1, 4)
        results["gt_labels"] = np.asarray(labels if labels is not None else np.zeros(len(results["gt_bboxes"])), np.int64)
        results["bbox_fields"].append("gt_bboxes")
    if masks is not None:
        results["gt_masks"] = masks
        results["mask_fields"].append("gt_masks")
    if seg is not None:
        results["gt_semantic_seg"] = seg
        results["seg_fields"].append("gt_semantic_seg")
    return results
