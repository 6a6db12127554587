"""Training epoch by epoch: ``runner = dict(type='EpochBasedRunner', max_epochs=12)``."""

from __future__ import annotations

from typing import Any

import torch

from detcli.engine.runners.base_runner import BaseRunner
from detcli.engine.runners.batch_stream import BatchStream, check_workflow
from detcli.errors import ConfigError
from detcli.registry import RUNNERS


@RUNNERS.register_module()
class EpochBasedRunner(BaseRunner):
    """``workflow=[('train', 1), ('val', 1)]`` alternates a training epoch with a loss-only val epoch;
    ``max_epochs`` counts training epochs only."""

    by_epoch = True
    default_ckpt_tmpl = "epoch_{}.pth"

    def _position(self) -> dict[str, int]:
        if self._phase == "iter_done":
            return dict(epoch=self.epoch, iter=self.iter + 1, inner_iter=self._done_in_epoch + 1)
        if self._phase == "epoch_done":
            return dict(epoch=self.epoch + 1, iter=self.iter, inner_iter=0)
        return dict(epoch=self.epoch, iter=self.iter, inner_iter=self._done_in_epoch)

    def train(self, data_loader: Any, **kwargs: Any) -> None:
        self.model.train()
        self.mode = "train"
        self.data_loader = data_loader
        self._max_iters = self._max_epochs * len(data_loader)
        skip, self._resume_inner = self._resume_inner, 0
        self._done_in_epoch = skip
        self.resuming_mid_epoch = skip > 0
        self._seed_for(1, self.epoch)  # sampler order and worker seeds depend on the epoch only
        self.call_hook("before_train_epoch")
        self.resuming_mid_epoch = False
        stream = BatchStream(data_loader, self._seed_step, self.iter - skip, skip, exact=self.deterministic)
        try:
            for index, data_batch in enumerate(stream, start=skip):
                self._inner_iter = index
                self._train_step(data_batch, **kwargs)
        except BaseException:
            stream.close()
            raise
        self._phase = "epoch_done"
        self.call_hook("after_train_epoch")
        self._phase = "idle"
        self._epoch += 1
        self._done_in_epoch = 0

    @torch.no_grad()
    def val(self, data_loader: Any, **kwargs: Any) -> None:
        self.model.eval()
        self.mode = "val"
        self.data_loader = data_loader
        self.call_hook("before_val_epoch")
        for i, data_batch in enumerate(data_loader):
            self.data_batch = data_batch
            self._inner_iter = i
            self.call_hook("before_val_iter")
            self.run_iter(data_batch, train_mode=False)
            self.call_hook("after_val_iter")
            del self.data_batch
        self.call_hook("after_val_epoch")

    def run(self, data_loaders: list, workflow: list, max_epochs: int | None = None, **kwargs: Any) -> None:
        flows = check_workflow(data_loaders, workflow)
        if max_epochs is not None:
            self._max_epochs = max_epochs
        if self._max_epochs is None:
            raise ConfigError("EpochBasedRunner needs max_epochs", hint="runner = dict(type='EpochBasedRunner', max_epochs=12)")
        for (mode, _), loader in zip(flows, data_loaders):
            if mode == "train":
                self._max_iters = self._max_epochs * len(loader)
                break
        self._log_start(flows, f"{self._max_epochs} epochs")
        with self._stopping():
            self.call_hook("before_run")
            self.resumed_state_dict = None  # hooks have taken what they need from it
            while self.epoch < self._max_epochs:
                for (mode, epochs), loader in zip(flows, data_loaders):
                    for _ in range(epochs):
                        if mode == "train" and self.epoch >= self._max_epochs:
                            break
                        getattr(self, mode)(loader, **kwargs)
            self.call_hook("after_run")


@RUNNERS.register_module()
class Runner(EpochBasedRunner):
    """The old name of ``EpochBasedRunner``."""
