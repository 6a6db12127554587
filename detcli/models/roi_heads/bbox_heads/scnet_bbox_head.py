"""SCNet's box head: a ``ConvFCBBoxHead`` that can also hand out its shared features (for the mask branch)."""

from __future__ import annotations

import torch

from detcli.registry import HEADS

from .convfc_bbox_head import ConvFCBBoxHead


@HEADS.register_module()
class SCNetBBoxHead(ConvFCBBoxHead):
    """``forward(x, return_shared_feat=True)`` adds the output of the shared convs/fcs to the scores and deltas."""

    def forward(self, x: torch.Tensor, return_shared_feat: bool = False):
        shared = self._forward_shared(x)
        cls_score, bbox_pred = self._predict(shared)
        return (cls_score, bbox_pred, shared) if return_shared_feat else (cls_score, bbox_pred)
