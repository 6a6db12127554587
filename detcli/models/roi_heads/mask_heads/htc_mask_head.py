"""HTC's mask head: an FCN mask head that also takes the previous stage's mask features."""

from __future__ import annotations

import torch

from detcli.models.layers import ConvModule
from detcli.registry import HEADS

from .fcn_mask_head import FCNMaskHead


@HEADS.register_module()
class HTCMaskHead(FCNMaskHead):
    """``conv_res`` (1x1) maps the last stage's features, which are added to the RoI features first.

    The first stage has nothing to receive (``with_conv_res=False``).
    """

    def __init__(self, with_conv_res: bool = True, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.with_conv_res = with_conv_res
        if with_conv_res:
            self.conv_res = ConvModule(self.conv_out_channels, self.conv_out_channels, 1, conv_cfg=self.conv_cfg,
                                       norm_cfg=self.norm_cfg)

    def forward(self, x: torch.Tensor, res_feat: torch.Tensor | None = None, return_logits: bool = True,
                return_feat: bool = True):
        """Logits and/or this stage's features (for the next stage); a pair when both are asked for."""
        if res_feat is not None:
            if not self.with_conv_res:
                raise ValueError("HTCMaskHead with with_conv_res=False cannot take res_feat")
            x = x + self.conv_res(res_feat)
        for conv in self.convs:
            x = conv(x)
        res_feat = x
        outs = []
        if return_logits:
            outs.append(self._logits(x))
        if return_feat:
            outs.append(res_feat)
        return outs if len(outs) > 1 else outs[0]
