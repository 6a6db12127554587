"""SCNet's extra heads (https://arxiv.org/abs/2012.10150): residual mask and semantic heads, the feature
relay from the box branch to the mask branch, and the global context head."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.backbones.res_layer import ResLayer
from detcli.models.layers import BaseModule, ConvModule, build_conv_layer, build_norm_layer
from detcli.registry import HEADS

from .fcn_mask_head import FCNMaskHead
from .fused_semantic_head import FusedSemanticHead


class SimplifiedBasicBlock(BaseModule):
    """Two 3x3 convs and the shortcut, norms optional (convs get biases without them), no ReLU at the end."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None, style: str = "pytorch", with_cp: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = dict(type="BN"),
                 dcn: Mapping | None = None, plugins: Sequence | None = None, init_cfg: Mapping | None = None) -> None:
        super().__init__(init_cfg)
        if dcn is not None or plugins is not None or with_cp:
            raise ConfigError("SimplifiedBasicBlock supports neither dcn, plugins nor with_cp")
        self.with_norm = norm_cfg is not None
        self.conv1 = build_conv_layer(conv_cfg, inplanes, planes, 3, stride=stride, padding=dilation,
                                      dilation=dilation, bias=not self.with_norm)
        if self.with_norm:
            self.norm1_name, norm1 = build_norm_layer(norm_cfg, planes, postfix=1)
            self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, planes, planes, 3, padding=1, bias=not self.with_norm)
        if self.with_norm:
            self.norm2_name, norm2 = build_norm_layer(norm_cfg, planes, postfix=2)
            self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.dilation = dilation
        self.with_cp = with_cp

    @property
    def norm1(self) -> nn.Module | None:
        return getattr(self, self.norm1_name) if self.with_norm else None

    @property
    def norm2(self) -> nn.Module | None:
        return getattr(self, self.norm2_name) if self.with_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.with_norm:
            out = self.norm1(out)
        out = self.conv2(self.relu(out))
        if self.with_norm:
            out = self.norm2(out)
        return out + (x if self.downsample is None else self.downsample(x))


def residual_convs(in_channels: int, channels: int, num_convs: int, conv_cfg, norm_cfg) -> ResLayer:
    """``num_convs`` 3x3 convs as ``num_convs // 2`` simplified residual blocks."""
    return ResLayer(SimplifiedBasicBlock, in_channels, channels, num_convs // 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg)


@HEADS.register_module()
class SCNetMaskHead(FCNMaskHead):
    """``FCNMaskHead`` whose convs are residual blocks (``conv_to_res``)."""

    def __init__(self, conv_to_res: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.conv_to_res = conv_to_res
        if conv_to_res:
            if self.conv_kernel_size != 3:
                raise ConfigError("SCNetMaskHead with conv_to_res needs conv_kernel_size=3")
            self.num_res_blocks = self.num_convs // 2
            self.convs = residual_convs(self.in_channels, self.conv_out_channels, self.num_convs, self.conv_cfg,
                                        self.norm_cfg)


@HEADS.register_module()
class SCNetSemanticHead(FusedSemanticHead):
    """``FusedSemanticHead`` whose convs are residual blocks (``conv_to_res``)."""

    def __init__(self, conv_to_res: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.conv_to_res = conv_to_res
        if conv_to_res:
            self.convs = residual_convs(self.in_channels, self.conv_out_channels, self.num_convs, self.conv_cfg,
                                        self.norm_cfg)
            self.num_convs = self.num_convs // 2


@HEADS.register_module()
class FeatureRelayHead(BaseModule):
    """The box head's shared fc features, mapped by ``fc`` to a ``roi_feat_size`` map and upsampled
    (bilinear, ``scale_factor``) to the mask head's RoI size."""

    def __init__(self, in_channels: int = 1024, out_conv_channels: int = 256, roi_feat_size: int = 7,
                 scale_factor: int = 2, init_cfg: Mapping | None = dict(type="Kaiming", layer="Linear")) -> None:
        super().__init__(init_cfg)
        if not isinstance(roi_feat_size, int):
            raise ConfigError("FeatureRelayHead: roi_feat_size must be an int")
        self.in_channels = in_channels
        self.out_conv_channels = out_conv_channels
        self.roi_feat_size = roi_feat_size
        self.out_channels = roi_feat_size ** 2 * out_conv_channels
        self.scale_factor = scale_factor
        self.fp16_enabled = False
        self.fc = nn.Linear(in_channels, self.out_channels)
        self.upsample = nn.Upsample(scale_factor=scale_factor, mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        """``None`` for no RoIs (the mask branch then adds nothing)."""
        if x.shape[0] == 0:
            return None
        x = self.fc(x).reshape(x.shape[0], self.out_conv_channels, self.roi_feat_size, self.roi_feat_size)
        return self.upsample(x)


@HEADS.register_module()
class GlobalContextHead(BaseModule):
    """Convs on the coarsest level, global average pooling, and ``fc`` predicting which classes the image
    contains (multi-label BCE); the pooled features are added to every RoI's features."""

    def __init__(self, num_convs: int = 4, in_channels: int = 256, conv_out_channels: int = 256,
                 num_classes: int = 80, loss_weight: float = 1.0, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping | None = None, conv_to_res: bool = False,
                 init_cfg: Mapping | None = dict(type="Normal", std=0.01, override=dict(name="fc"))) -> None:
        super().__init__(init_cfg)
        self.num_convs = num_convs
        self.in_channels = in_channels
        self.conv_out_channels = conv_out_channels
        self.num_classes = num_classes
        self.loss_weight = loss_weight
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.conv_to_res = conv_to_res
        self.fp16_enabled = False
        if conv_to_res:
            self.convs = residual_convs(in_channels, conv_out_channels, num_convs, conv_cfg, norm_cfg)
            self.num_convs = num_convs // 2
        else:
            self.convs = nn.ModuleList(
                ConvModule(in_channels if i == 0 else conv_out_channels, conv_out_channels, 3, padding=1,
                           conv_cfg=conv_cfg, norm_cfg=norm_cfg)
                for i in range(num_convs))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(conv_out_channels, num_classes)
        self.criterion = nn.BCEWithLogitsLoss()

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(class logits (n, num_classes), pooled features (n, C, 1, 1))``."""
        x = feats[-1]
        for conv in self.convs:
            x = conv(x)
        x = self.pool(x)
        return self.fc(x.reshape(x.size(0), -1)), x

    def loss(self, pred: torch.Tensor, labels: Sequence[torch.Tensor]) -> torch.Tensor:
        targets = pred.new_zeros(pred.size())
        for i, label in enumerate(labels):  # per image: the classes present
            targets[i, label.unique()] = 1.0
        return self.loss_weight * self.criterion(pred, targets)
