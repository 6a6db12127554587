"""SCNet's box head: a ``ConvFCBBoxHead`` that can also hand out its shared features (for the mask branch)."""

from __future__ import annotations

import torch

from detcli.registry import HEADS

from .convfc_bbox_head import ConvFCBBoxHead


@HEADS.register_module()
class SCNetBBoxHead(ConvFCBBoxHead):
    """``forward(x, return_shared_feat=True)`` adds the output of the shared convs/fcs to the scores and deltas."""

    def _forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        return x

    def forward(self, x: torch.Tensor, return_shared_feat: bool = False):
        shared = self._forward_shared(x)
        cls_score = self.fc_cls(self._run_branch(shared, self.cls_convs, self.cls_fcs)) if self.with_cls else None
        bbox_pred = self.fc_reg(self._run_branch(shared, self.reg_convs, self.reg_fcs)) if self.with_reg else None
        return (cls_score, bbox_pred, shared) if return_shared_feat else (cls_score, bbox_pred)
