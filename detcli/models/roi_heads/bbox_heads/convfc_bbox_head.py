"""Box heads with shared convs/fcs and optional separate classification/regression branches."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import ConvModule
from detcli.registry import HEADS

from .bbox_head import BBoxHead, build_linear_layer


@HEADS.register_module()
class ConvFCBBoxHead(BBoxHead):
    """``shared convs -> shared fcs``, then ``cls convs -> cls fcs -> fc_cls`` and the same for reg.

    State-dict names: ``shared_convs.i``, ``shared_fcs.i``, ``cls_convs.i``, ``cls_fcs.i``,
    ``reg_convs.i``, ``reg_fcs.i``, ``fc_cls``, ``fc_reg``.
    """

    def __init__(
        self,
        num_shared_convs: int = 0,
        num_shared_fcs: int = 0,
        num_cls_convs: int = 0,
        num_cls_fcs: int = 0,
        num_reg_convs: int = 0,
        num_reg_fcs: int = 0,
        conv_out_channels: int = 256,
        fc_out_channels: int = 1024,
        conv_cfg: Mapping | None = None,
        norm_cfg: Mapping | None = None,
        init_cfg: Mapping | list | None = None,
        **kwargs,
    ) -> None:
        super().__init__(init_cfg=init_cfg, **kwargs)
        name = type(self).__name__
        if num_shared_convs + num_shared_fcs + num_cls_convs + num_cls_fcs + num_reg_convs + num_reg_fcs <= 0:
            raise ConfigError(f"{name}: every branch has zero convs and fcs", hint="set num_shared_fcs=2, for example")
        if (num_cls_convs > 0 or num_reg_convs > 0) and num_shared_fcs != 0:
            raise ConfigError(
                f"{name}: separate cls/reg convs cannot follow shared fcs (num_shared_fcs={num_shared_fcs})",
                hint="set num_shared_fcs=0 or drop num_cls_convs/num_reg_convs",
            )
        if not self.with_cls and (num_cls_convs or num_cls_fcs):
            raise ConfigError(f"{name}: with_cls=False but the cls branch has layers")
        if not self.with_reg and (num_reg_convs or num_reg_fcs):
            raise ConfigError(f"{name}: with_reg=False but the reg branch has layers")
        self.num_shared_convs = num_shared_convs
        self.num_shared_fcs = num_shared_fcs
        self.num_cls_convs = num_cls_convs
        self.num_cls_fcs = num_cls_fcs
        self.num_reg_convs = num_reg_convs
        self.num_reg_fcs = num_reg_fcs
        self.conv_out_channels = conv_out_channels
        self.fc_out_channels = fc_out_channels
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg

        self.shared_convs, self.shared_fcs, self.shared_out_channels = self._add_conv_fc_branch(
            num_shared_convs, num_shared_fcs, self.in_channels, is_shared=True
        )
        self.cls_convs, self.cls_fcs, self.cls_last_dim = self._add_conv_fc_branch(
            num_cls_convs, num_cls_fcs, self.shared_out_channels
        )
        self.reg_convs, self.reg_fcs, self.reg_last_dim = self._add_conv_fc_branch(
            num_reg_convs, num_reg_fcs, self.shared_out_channels
        )
        if num_shared_fcs == 0 and not self.with_avg_pool:
            # a branch without fcs feeds its flattened feature map to the predictor
            if num_cls_fcs == 0:
                self.cls_last_dim *= self.roi_feat_area
            if num_reg_fcs == 0:
                self.reg_last_dim *= self.roi_feat_area

        self.relu = nn.ReLU(inplace=True)
        # replace the predictors BBoxHead made for its own input size (same state-dict names)
        if self.with_cls:
            self.fc_cls = build_linear_layer(self.cls_predictor_cfg, self.cls_last_dim, self.cls_out_channels)
        if self.with_reg:
            self.fc_reg = build_linear_layer(self.reg_predictor_cfg, self.reg_last_dim, self.reg_out_channels)
        if init_cfg is None:
            self.init_cfg += [
                dict(
                    type="Xavier",
                    distribution="uniform",
                    override=[dict(name="shared_fcs"), dict(name="cls_fcs"), dict(name="reg_fcs")],
                )
            ]

    def _add_conv_fc_branch(
        self, num_branch_convs: int, num_branch_fcs: int, in_channels: int, is_shared: bool = False
    ) -> tuple[nn.ModuleList, nn.ModuleList, int]:
        """``convs -> (avg pool) -> fcs``; returns the layers and the branch's output width."""
        last_dim = in_channels
        convs = nn.ModuleList()
        for i in range(num_branch_convs):
            convs.append(
                ConvModule(
                    last_dim if i == 0 else self.conv_out_channels,
                    self.conv_out_channels,
                    3,
                    padding=1,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                )
            )
        if num_branch_convs > 0:
            last_dim = self.conv_out_channels
        fcs = nn.ModuleList()
        if num_branch_fcs > 0:
            if (is_shared or self.num_shared_fcs == 0) and not self.with_avg_pool:
                last_dim *= self.roi_feat_area
            for i in range(num_branch_fcs):
                fcs.append(nn.Linear(last_dim if i == 0 else self.fc_out_channels, self.fc_out_channels))
            last_dim = self.fc_out_channels
        return convs, fcs, last_dim

    def _run_branch(self, x, convs: nn.ModuleList, fcs: nn.ModuleList):
        for conv in convs:
            x = conv(x)
        if x.dim() > 2:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
        for fc in fcs:
            x = self.relu(fc(x))
        return x

    def _forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """The RoI features through the shared convs and fcs (what both branches start from)."""
        for conv in self.shared_convs:
            x = conv(x)
        if self.num_shared_fcs > 0:
            if self.with_avg_pool:
                x = self.avg_pool(x)
            x = x.flatten(1)
            for fc in self.shared_fcs:
                x = self.relu(fc(x))
        return x

    def _predict(self, shared: torch.Tensor) -> tuple:
        """Class scores and box deltas from the shared features (None for a branch the head lacks)."""
        cls_score = self.fc_cls(self._run_branch(shared, self.cls_convs, self.cls_fcs)) if self.with_cls else None
        bbox_pred = self.fc_reg(self._run_branch(shared, self.reg_convs, self.reg_fcs)) if self.with_reg else None
        return cls_score, bbox_pred

    def forward(self, x):
        return self._predict(self._forward_shared(x))


@HEADS.register_module()
class Shared2FCBBoxHead(ConvFCBBoxHead):
    """Two shared fcs, then the predictors: the Faster/Mask R-CNN FPN box head."""

    def __init__(self, fc_out_channels: int = 1024, **kwargs) -> None:
        super().__init__(
            num_shared_convs=0, num_shared_fcs=2, num_cls_convs=0, num_cls_fcs=0, num_reg_convs=0,
            num_reg_fcs=0, fc_out_channels=fc_out_channels, **kwargs,
        )


@HEADS.register_module()
class Shared4Conv1FCBBoxHead(ConvFCBBoxHead):
    """Four shared 3x3 convs and one shared fc (the GN heads' box head)."""

    def __init__(self, fc_out_channels: int = 1024, **kwargs) -> None:
        super().__init__(
            num_shared_convs=4, num_shared_fcs=1, num_cls_convs=0, num_cls_fcs=0, num_reg_convs=0,
            num_reg_fcs=0, fc_out_channels=fc_out_channels, **kwargs,
        )
