"""The guide's new optimizer (section 九.1.2): ``MyOptimizer`` with three arguments of its own,
``a``, ``b`` and ``c``, and no ``lr`` in its config.

What it does: the Lion update (https://arxiv.org/abs/2302.06675), a sign-momentum method with
exactly three hyper-parameters: ``a`` is the step size, ``b`` and ``c`` the two momentum
factors (the update direction is ``sign(b * m + (1 - b) * grad)``, the momentum is
``m = c * m + (1 - c) * grad``). The step size is kept under the key ``lr`` of each param
group, so LR schedules (``lr_config``) and the logs work on it as on any optimizer.
"""

import torch
from torch.optim import Optimizer

from detcli.registry import OPTIMIZERS


@OPTIMIZERS.register_module()
class MyOptimizer(Optimizer):

    def __init__(self, params, a, b, c, weight_decay=0.0):
        if a <= 0 or not (0 <= b < 1 and 0 <= c < 1):
            raise ValueError(f'MyOptimizer needs a > 0 and 0 <= b, c < 1, got a={a}, b={b}, c={c}')
        super().__init__(params, dict(lr=a, b=b, c=c, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group['params']:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state['momentum'] = torch.zeros_like(p)
                m = state['momentum']
                if group['weight_decay']:
                    p.mul_(1 - group['lr'] * group['weight_decay'])
                direction = (group['b'] * m + (1 - group['b']) * p.grad).sign_()
                p.add_(direction, alpha=-group['lr'])
                m.mul_(group['c']).add_(p.grad, alpha=1 - group['c'])
        return loss
