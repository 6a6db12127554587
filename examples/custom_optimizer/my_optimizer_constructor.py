"""The guide's optimizer constructor (section 九.1.3): it decides which parameters the optimizer
gets, with which settings. This one gives normalisation layers and biases no weight decay
(decaying a BatchNorm scale or a bias towards 0 only hurts) and builds the optimizer of
``optimizer_cfg`` over the two groups.
"""

import logging

from torch import nn

from detcli.registry import OPTIMIZER_BUILDERS, OPTIMIZERS, build_from_cfg

NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm)


@OPTIMIZER_BUILDERS.register_module()
class MyOptimizerConstructor:

    def __init__(self, optimizer_cfg, paramwise_cfg=None):
        self.optimizer_cfg = dict(optimizer_cfg)
        self.paramwise_cfg = dict(paramwise_cfg or {})

    def __call__(self, model):
        model = getattr(model, 'module', model)  # unwrap DistributedDataParallel
        decay, no_decay = [], []
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                (no_decay if isinstance(module, NORMS) or name == 'bias' else decay).append(param)
        logging.getLogger('detcli').info(  # the run's logger: the line goes to its .log file too
            'MyOptimizerConstructor: %d parameter tensors with weight decay, %d without', len(decay), len(no_decay))
        cfg = dict(self.optimizer_cfg)
        cfg['params'] = [dict(params=decay), dict(params=no_decay, weight_decay=0.0)]
        my_optimizer = build_from_cfg(cfg, OPTIMIZERS)
        return my_optimizer
