"""Grid R-CNN's RoI head: the box branch classifies, a grid head places the box edges."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from detcli.registry import HEADS, ROI_EXTRACTORS
from detcli.structures.boxes import bbox2result, bbox2roi

from .standard_roi_head import DUMMY_MASK_ROIS, StandardRoIHead


@HEADS.register_module()
class GridRoIHead(StandardRoIHead):
    """``bbox_head`` scores RoIs (usually ``with_reg=False``); ``grid_head`` predicts point heatmaps on
    ``grid_roi_extractor`` features (14x14 by default) of the kept detections, which give the boxes.

    Training jitters the positives (±15 % of their size) before the grid branch sees them and
    trains it on at most ``train_cfg.max_num_grid`` of them.
    """

    def __init__(self, grid_roi_extractor: Mapping | None, grid_head: Mapping, **kwargs) -> None:
        super().__init__(**kwargs)
        if grid_roi_extractor is not None:
            self.grid_roi_extractor = ROI_EXTRACTORS.build(grid_roi_extractor)
            self.share_roi_extractor = False
        else:
            self.share_roi_extractor = True
            self.grid_roi_extractor = self.bbox_roi_extractor
        self.grid_head = HEADS.build(grid_head)

    def _grid_feats(self, x, rois: torch.Tensor) -> torch.Tensor:
        feats = self.grid_roi_extractor(x[: self.grid_roi_extractor.num_inputs], rois)
        return self.shared_head(feats) if self.with_shared_head else feats

    def _random_jitter(self, sampling_results, img_metas, amplitude: float = 0.15):
        """Shift and scale each positive box by up to ``amplitude`` of its size (in place, as 2.x does)."""
        for result, meta in zip(sampling_results, img_metas):
            boxes = result.pos_bboxes
            offsets = boxes.new_empty(boxes.shape[0], 4).uniform_(-amplitude, amplitude)
            centre = (boxes[:, 2:4] + boxes[:, :2]) / 2
            size = (boxes[:, 2:4] - boxes[:, :2]).abs()
            centre = centre + size * offsets[:, :2]
            size = size * (1 + offsets[:, 2:])
            jittered = torch.cat([centre - size / 2, centre + size / 2], dim=1)
            if meta["img_shape"] is not None:
                jittered[:, 0::2].clamp_(min=0, max=meta["img_shape"][1] - 1)
                jittered[:, 1::2].clamp_(min=0, max=meta["img_shape"][0] - 1)
            result.pos_bboxes = jittered
        return sampling_results

    def forward_dummy(self, x, proposals: torch.Tensor) -> tuple:
        rois = bbox2roi([proposals])
        outs: tuple = ()
        if self.with_bbox:
            bbox_results = self._bbox_forward(x, rois)
            outs += (bbox_results["cls_score"], bbox_results["bbox_pred"])
        outs += (self.grid_head(self._grid_feats(x, rois[:DUMMY_MASK_ROIS])),)
        if self.with_mask:
            outs += (self._mask_forward(x, rois[:DUMMY_MASK_ROIS])["mask_pred"],)
        return outs

    def _bbox_forward_train(self, x, sampling_results, gt_bboxes, gt_labels, img_metas) -> dict:
        """The box losses plus ``loss_grid``."""
        bbox_results = super()._bbox_forward_train(x, sampling_results, gt_bboxes, gt_labels, img_metas)
        sampling_results = self._random_jitter(sampling_results, img_metas)
        pos_rois = bbox2roi([res.pos_bboxes for res in sampling_results])
        if pos_rois.shape[0] == 0:
            return bbox_results
        grid_feats = self._grid_feats(x, pos_rois)
        keep = torch.randperm(grid_feats.shape[0])[: min(grid_feats.shape[0], self.train_cfg.get("max_num_grid", 192))]
        grid_pred = self.grid_head(grid_feats[keep])
        grid_targets = self.grid_head.get_targets(sampling_results, self.train_cfg)[keep]
        bbox_results["loss_bbox"].update(self.grid_head.loss(grid_pred, grid_targets))
        return bbox_results

    def simple_test(self, x, proposal_list, img_metas, proposals=None, rescale=False):
        """Scored RoIs (NMS-ed, unrescaled) -> grid heatmaps of the survivors -> their boxes, which the
        mask head (if any) then segments."""
        det_bboxes, det_labels = self.simple_test_bboxes(x, img_metas, proposal_list, self.test_cfg, rescale=False)
        num_classes = self.bbox_head.num_classes
        grid_rois = bbox2roi([b[:, :4] for b in det_bboxes])
        if grid_rois.shape[0] != 0:
            fused = self.grid_head(self._grid_feats(x, grid_rois))["fused"].split([len(b) for b in det_bboxes], 0)
            for i, meta in enumerate(img_metas):
                if det_bboxes[i].shape[0] == 0:
                    continue
                boxes = self.grid_head.get_bboxes(det_bboxes[i], fused[i], [meta])
                if rescale:
                    boxes[:, :4] /= boxes.new_tensor(np.asarray(meta["scale_factor"], dtype=np.float32))
                det_bboxes[i] = boxes
        bbox_results = [bbox2result(boxes, labels, num_classes) for boxes, labels in zip(det_bboxes, det_labels)]
        if not self.with_mask:
            return bbox_results
        segm_results = self.simple_test_mask(x, img_metas, det_bboxes, det_labels, rescale=rescale)
        return list(zip(bbox_results, segm_results))
