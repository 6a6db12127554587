"""The guide's new neck (section 七.2): PAFPN, an FPN with an extra bottom-up path
(Path Aggregation Network, https://arxiv.org/abs/1803.01534).

Top-down as in FPN (lateral 1x1 convs, upsample and add, 3x3 output convs); then bottom-up:
each level adds a stride-2 3x3 conv of the level below, so fine localisation reaches the
coarse levels in few steps. Registered as ``MyPAFPN`` (detcli may ship its own ``PAFPN``).
"""

import torch.nn as nn
import torch.nn.functional as F

from detcli.models.builder import NECKS
from detcli.models.layers import ConvModule, xavier_init


@NECKS.register_module()
class MyPAFPN(nn.Module):

    def __init__(self,
                 in_channels,
                 out_channels,
                 num_outs,
                 start_level=0,
                 end_level=-1,
                 add_extra_convs=False,
                 norm_cfg=None):
        super().__init__()
        self.in_channels = list(in_channels)
        self.num_outs = num_outs
        self.start_level = start_level
        self.end_level = len(in_channels) if end_level == -1 else end_level + 1
        self.add_extra_convs = add_extra_convs  # False: max-pool; True: stride-2 convs on the last output
        levels = range(self.start_level, self.end_level)

        def conv(cin, k, stride=1, act=True):
            return ConvModule(cin, out_channels, k, stride=stride, padding=k // 2, norm_cfg=norm_cfg,
                              act_cfg=dict(type='ReLU') if act else None)

        self.lateral_convs = nn.ModuleList(conv(self.in_channels[i], 1, act=False) for i in levels)
        self.fpn_convs = nn.ModuleList(conv(out_channels, 3, act=False) for _ in levels)
        # the bottom-up path: one downsampling conv and one output conv per level above the first
        self.downsample_convs = nn.ModuleList(conv(out_channels, 3, stride=2) for _ in list(levels)[1:])
        self.pafpn_convs = nn.ModuleList(conv(out_channels, 3) for _ in list(levels)[1:])
        extra = num_outs - len(levels)
        self.extra_convs = nn.ModuleList(
            conv(out_channels, 3, stride=2, act=False) for _ in range(extra if add_extra_convs else 0))

    def init_weights(self):
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                xavier_init(m, distribution='uniform')

    def forward(self, inputs):
        feats = inputs[self.start_level:self.end_level]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, feats)]
        for i in range(len(laterals) - 1, 0, -1):  # top-down
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                                              mode='nearest')
        inter = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        for i, down in enumerate(self.downsample_convs):  # bottom-up
            inter[i + 1] = inter[i + 1] + down(inter[i])
        outs = [inter[0]] + [conv(x) for conv, x in zip(self.pafpn_convs, inter[1:])]
        while len(outs) < self.num_outs:  # extra, coarser levels
            if self.add_extra_convs:
                outs.append(self.extra_convs[len(outs) - len(inter)](outs[-1]))
            else:
                outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
