"""The guide's new box head (section 七.3.1), after Double-Head R-CNN (https://arxiv.org/abs/1904.06493):

                  /-> shared convs -> reg     (the enlarged RoI feature: where is the object?)
    roi features
                  \\-> shared fcs   -> cls     (the RoI feature: what is it?)

``forward`` takes two RoI features, one per branch (see my_double_roi_head.py). Registered as
``MyDoubleConvFCBBoxHead``: detcli already ships this head as ``DoubleConvFCBBoxHead``.
"""

import torch.nn as nn

from detcli.models.builder import HEADS
from detcli.models.layers import ConvModule, xavier_init
from detcli.models.roi_heads import BBoxHead


@HEADS.register_module()
class MyDoubleConvFCBBoxHead(BBoxHead):

    def __init__(self,
                 num_convs=0,
                 num_fcs=0,
                 conv_out_channels=1024,
                 fc_out_channels=1024,
                 conv_cfg=None,
                 norm_cfg=None,
                 **kwargs):
        norm_cfg = norm_cfg or dict(type='BN')  # the guide's default
        kwargs.setdefault('with_avg_pool', True)  # the conv branch ends in global average pooling
        super().__init__(**kwargs)
        self.conv_branch = nn.ModuleList(
            ConvModule(self.in_channels if i == 0 else conv_out_channels, conv_out_channels, 3, padding=1,
                       conv_cfg=conv_cfg, norm_cfg=norm_cfg)
            for i in range(num_convs))
        self.fc_branch = nn.ModuleList(
            nn.Linear(self.in_channels * self.roi_feat_area if i == 0 else fc_out_channels, fc_out_channels)
            for i in range(num_fcs))
        # BBoxHead made fc_cls/fc_reg for in_channels inputs: each branch ends in its own width
        self.fc_cls = nn.Linear(fc_out_channels if num_fcs else self.in_channels * self.roi_feat_area,
                                self.num_classes + 1)
        self.fc_reg = nn.Linear(conv_out_channels if num_convs else self.in_channels, self.reg_out_channels)
        self.relu = nn.ReLU(inplace=True)

    def init_weights(self):
        super().init_weights()  # fc_cls ~ N(0, 0.01), fc_reg ~ N(0, 0.001) (BBoxHead's init_cfg)
        # conv layers are already initialized by ConvModule
        for fc in self.fc_branch:
            xavier_init(fc, distribution='uniform')

    def forward(self, x_cls, x_reg):
        x_conv = x_reg
        for conv in self.conv_branch:
            x_conv = conv(x_conv)
        bbox_pred = self.fc_reg(self.avg_pool(x_conv).flatten(1))

        x_fc = x_cls.flatten(1)
        for fc in self.fc_branch:
            x_fc = self.relu(fc(x_fc))
        cls_score = self.fc_cls(x_fc)
        return cls_score, bbox_pred
