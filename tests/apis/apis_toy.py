"""A toy detector and dataset for testing the loops and the inference API without real models.

The detector's output is a fixed function of each image's pixels and metas, so any
mix-up of order, batching or rescaling shows in the results.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from detcli.data import DataContainer

NUM_CLASSES = 3


class ToyDetector(nn.Module):
    CLASSES = ("a", "b", "c")

    def __init__(self, with_mask: bool = False, **kwargs):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.with_mask = with_mask

    def forward(self, img, img_metas, return_loss=False, rescale=True, **kwargs):
        if isinstance(img, (list, tuple)):  # test-time augmentation lists: use the first
            img, img_metas = img[0], img_metas[0]
        results = []
        for image, meta in zip(img, img_metas):
            ih, iw = meta["img_shape"][:2]
            h, w = meta["ori_shape"][:2] if rescale else (ih, iw)
            mean = float(image[:, :ih, :iw].float().mean() * self.scale)  # padding excluded
            label = int(abs(mean) * 7) % NUM_CLASSES
            score = 1 / (1 + np.exp(-mean))
            box = np.array([[w * 0.1, h * 0.2, w * 0.6, h * 0.7, score]], np.float32)
            bbox_result = [box if c == label else np.zeros((0, 5), np.float32) for c in range(NUM_CLASSES)]
            if not self.with_mask:
                results.append(bbox_result)
                continue
            mask = np.zeros((int(h), int(w)), bool)
            mask[int(h * 0.2):int(h * 0.7), int(w * 0.1):int(w * 0.6)] = True
            results.append((bbox_result, [[mask] if c == label else [] for c in range(NUM_CLASSES)]))
        return results

    def show_result(self, img, result, score_thr=0.3, bbox_color=(72, 101, 241), text_color=(72, 101, 241),
                    mask_color=None, thickness=2, font_scale=0.5, win_name="", show=False, wait_time=0,
                    out_file=None):
        from detcli.visualization import imshow_det_bboxes, result_to_arrays

        bboxes, labels, segms = result_to_arrays(result)
        return imshow_det_bboxes(img, bboxes, labels, segms, class_names=self.CLASSES, score_thr=score_thr,
                                 bbox_color=bbox_color, text_color=text_color, mask_color=mask_color,
                                 thickness=thickness, font_scale=font_scale, win_name=win_name, show=show,
                                 wait_time=wait_time, out_file=out_file)


class ToyTestSet(torch.utils.data.Dataset):
    """Images of different sizes, as a test pipeline with MultiScaleFlipAug would give them."""

    PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    MEAN, STD = [10.0, 20.0, 30.0], [2.0, 2.0, 2.0]

    def __init__(self, n: int = 5, seed: int = 0):
        rng = np.random.RandomState(seed)
        self.images = [rng.randint(0, 255, (32 + 8 * i, 48 - 4 * i, 3)).astype(np.uint8) for i in range(n)]

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        norm = (img[..., ::-1].astype(np.float32) - self.MEAN) / self.STD  # to RGB, normalised
        meta = {"filename": f"/data/img_{i}.png", "ori_filename": f"img_{i}.png", "ori_shape": img.shape,
                "img_shape": img.shape, "pad_shape": img.shape, "scale_factor": np.ones(4, np.float32),
                "flip": False, "flip_direction": None,
                "img_norm_cfg": {"mean": np.array(self.MEAN, np.float32), "std": np.array(self.STD, np.float32),
                                 "to_rgb": True}}
        tensor = torch.from_numpy(np.ascontiguousarray(norm.transpose(2, 0, 1)))
        return {"img": [DataContainer(tensor, stack=True)], "img_metas": [DataContainer(meta, cpu_only=True)]}
