"""The guide's new hook (section 九.4.1): ``MyHook`` implements all six stage methods.

What it does: counts the stages it saw and keeps the total loss of every ``interval``-th
training iteration, then writes both to ``<work_dir>/<filename>`` (JSON) when the run ends:
a record of the run that needs no log parsing. (The guide's ``a`` and ``b`` are these two
arguments.)
"""

import os
import time

from detcli.atomic_write import dump_json_atomic
from detcli.engine import Hook
from detcli.registry import HOOKS


@HOOKS.register_module()
class MyHook(Hook):

    def __init__(self, filename='my_hook.json', interval=1):
        self.filename = filename
        self.interval = interval
        self.calls = dict.fromkeys(
            ('before_run', 'after_run', 'before_epoch', 'after_epoch', 'before_iter', 'after_iter'), 0)
        self.losses = []
        self.started = None

    def before_run(self, runner):
        self.calls['before_run'] += 1
        self.started = time.time()

    def after_run(self, runner):
        self.calls['after_run'] += 1
        if runner.work_dir is None:
            return
        record = dict(calls=self.calls, losses=self.losses, seconds=round(time.time() - self.started, 3),
                      epochs=runner.epoch, iters=runner.iter)
        dump_json_atomic(record, os.path.join(runner.work_dir, self.filename), indent=1)  # whole file or none

    def before_epoch(self, runner):
        self.calls['before_epoch'] += 1

    def after_epoch(self, runner):
        self.calls['after_epoch'] += 1

    def before_iter(self, runner):
        self.calls['before_iter'] += 1

    def after_iter(self, runner):
        self.calls['after_iter'] += 1
        log_vars = runner.outputs.get('log_vars', {})
        if runner.mode == 'train' and self.every_n_iters(runner, self.interval) and 'loss' in log_vars:
            self.losses.append([runner.iter + 1, float(log_vars['loss'])])
