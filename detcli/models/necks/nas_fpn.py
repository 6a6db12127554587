"""NAS-FPN (https://arxiv.org/abs/1904.07392): the searched merging-cell pyramid, stacked ``stack_times``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from detcli.errors import ConfigError
from detcli.models.layers import BaseModule, ConvModule, ModuleList
from detcli.models.layers.merge_cells import GlobalPoolingCell, SumCell
from detcli.registry import NECKS

# (cell name, kind, with an out conv): the order the cells run in; names are state-dict keys
_CELLS = (("gp_64_4", "gp", True), ("sum_44_4", "sum", True), ("sum_43_3", "sum", True), ("sum_34_4", "sum", True),
          ("gp_43_5", "gp", False), ("sum_55_5", "sum", True), ("gp_54_7", "gp", False), ("sum_77_7", "sum", True),
          ("gp_75_6", "gp", True))


@NECKS.register_module()
class NASFPN(BaseModule):
    """Laterals (1x1 conv + norm, no activation) for P3-P5, P6/P7 by 1x1 conv + 2x2 max-pool, then
    ``stack_times`` rounds of merging cells. Needs exactly five output levels (P3-P7)."""

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        num_outs: int,
        stack_times: int,
        start_level: int = 0,
        end_level: int = -1,
        add_extra_convs: bool | str = False,  # unused (extra levels are always pooled); FPN bases pass a str
        norm_cfg: Mapping | None = None,
        init_cfg: Mapping | Sequence[Mapping] | None = dict(type="Caffe2Xavier", layer="Conv2d"),
    ) -> None:
        super().__init__(init_cfg)
        if not isinstance(in_channels, (list, tuple)):
            raise ConfigError(f"NASFPN in_channels must be a list, got {in_channels!r}")
        if num_outs != 5:
            raise ConfigError(f"NASFPN builds P3-P7: num_outs must be 5, got {num_outs}")
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_ins = len(in_channels)
        self.num_outs = num_outs
        self.stack_times = stack_times
        self.norm_cfg = norm_cfg
        if end_level in (-1, self.num_ins - 1):
            self.backbone_end_level = self.num_ins
            if num_outs < self.num_ins - start_level:
                raise ConfigError(f"NASFPN num_outs={num_outs} is fewer than the input levels used")
        else:
            self.backbone_end_level = end_level + 1
            if end_level >= self.num_ins or num_outs != end_level - start_level + 1:
                raise ConfigError(f"NASFPN end_level={end_level} does not fit {self.num_ins} inputs and "
                                  f"num_outs={num_outs}")
        self.start_level = start_level
        self.end_level = end_level
        self.add_extra_convs = add_extra_convs

        self.lateral_convs = nn.ModuleList(
            ConvModule(in_channels[i], out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
            for i in range(start_level, self.backbone_end_level))
        extra_levels = num_outs - self.backbone_end_level + start_level
        self.extra_downsamples = nn.ModuleList(
            nn.Sequential(ConvModule(out_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None),
                          nn.MaxPool2d(2, 2))
            for _ in range(extra_levels))
        self.fpn_stages = ModuleList(self._make_stage(out_channels, norm_cfg) for _ in range(stack_times))

    @staticmethod
    def _make_stage(channels: int, norm_cfg: Mapping | None) -> nn.ModuleDict:
        cells = nn.ModuleDict()
        for name, kind, with_conv in _CELLS:
            if kind == "sum":
                cells[name] = SumCell(in_channels=channels, out_channels=channels, out_norm_cfg=norm_cfg)
            elif with_conv:
                cells[name] = GlobalPoolingCell(in_channels=channels, out_channels=channels, out_norm_cfg=norm_cfg)
            else:
                cells[name] = GlobalPoolingCell(with_out_conv=False)
        return cells

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        feats = [conv(inputs[i + self.start_level]) for i, conv in enumerate(self.lateral_convs)]
        for downsample in self.extra_downsamples:
            feats.append(downsample(feats[-1]))
        p3, p4, p5, p6, p7 = feats
        for cell in self.fpn_stages:
            p4_1 = cell["gp_64_4"](p6, p4, out_size=p4.shape[-2:])
            p4_2 = cell["sum_44_4"](p4_1, p4, out_size=p4.shape[-2:])
            p3 = cell["sum_43_3"](p4_2, p3, out_size=p3.shape[-2:])
            p4 = cell["sum_34_4"](p3, p4_2, out_size=p4.shape[-2:])
            p5_tmp = cell["gp_43_5"](p4, p3, out_size=p5.shape[-2:])
            p5 = cell["sum_55_5"](p5, p5_tmp, out_size=p5.shape[-2:])
            p7_tmp = cell["gp_54_7"](p5, p4_2, out_size=p7.shape[-2:])
            p7 = cell["sum_77_7"](p7, p7_tmp, out_size=p7.shape[-2:])
            p6 = cell["gp_75_6"](p7, p5, out_size=p6.shape[-2:])
        return p3, p4, p5, p6, p7
