"""Training by iterations: ``runner = dict(type='IterBasedRunner', max_iters=90000)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from detcli.engine.runners.base_runner import BaseRunner
from detcli.engine.runners.batch_stream import BatchStream, check_workflow
from detcli.errors import ConfigError
from detcli.registry import RUNNERS


class IterLoader:
    """Endless batches from a data loader; ``epoch`` counts completed passes.

    ``step_fn`` gives the runner's current step (each pass' batches are fetched under the
    seeds of their steps), ``on_new_pass`` is called before each pass' iterator is made.
    """

    def __init__(self, dataloader: Any, on_new_pass: Callable[[int], None] | None = None,
                 seed_step: Callable[[int], None] | None = None, step_fn: Callable[[], int] | None = None,
                 exact: bool = False) -> None:
        self._dataloader = dataloader
        self._epoch = 0
        self._skip = 0
        self._stream: BatchStream | None = None
        self.on_new_pass = on_new_pass
        self.seed_step = seed_step or (lambda step: None)
        self.step_fn = step_fn or (lambda: 0)
        self.exact = exact

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def consumed(self) -> int:
        """Batches taken from the current pass."""
        return self._stream.position if self._stream is not None else self._skip

    def resume_at(self, epoch: int, consumed: int) -> None:
        self._epoch, self._skip, self._stream = epoch, consumed, None

    def _start_pass(self) -> None:
        sampler = getattr(self._dataloader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self._epoch)
        if self.on_new_pass is not None:
            self.on_new_pass(self._epoch)
        skip, self._skip = self._skip, 0
        self._stream = BatchStream(self._dataloader, self.seed_step, self.step_fn() - skip, skip, self.exact)

    def __next__(self) -> Any:
        if self._stream is None:
            self._start_pass()
        try:
            return next(self._stream)
        except StopIteration:
            self._epoch += 1
            self._start_pass()
            return next(self._stream)

    def __len__(self) -> int:
        return len(self._dataloader)

    @property
    def dataset(self) -> Any:
        return self._dataloader.dataset

    @property
    def sampler(self) -> Any:
        return getattr(self._dataloader, "sampler", None)


@RUNNERS.register_module()
class IterBasedRunner(BaseRunner):
    """``workflow=[('train', N), ('val', M)]`` counts iterations; checkpoints are ``iter_N.pth``."""

    by_epoch = False
    default_ckpt_tmpl = "iter_{}.pth"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._train_loader: IterLoader | None = None

    def _position(self) -> dict[str, int]:
        done = 1 if self._phase == "iter_done" else 0
        loader = self._train_loader
        epoch = loader.epoch if loader is not None else self.epoch
        consumed = loader.consumed if loader is not None else 0
        return dict(epoch=epoch, iter=self.iter + done, inner_iter=consumed)

    def train(self, data_loader: IterLoader, **kwargs: Any) -> None:
        self.model.train()
        self.mode = "train"
        self.data_loader = data_loader
        data_batch = next(data_loader)
        self._epoch = data_loader.epoch
        self._train_step(data_batch, **kwargs)
        self._inner_iter += 1

    @torch.no_grad()
    def val(self, data_loader: IterLoader, **kwargs: Any) -> None:
        self.model.eval()
        self.mode = "val"
        self.data_loader = data_loader
        data_batch = next(data_loader)
        self.data_batch = data_batch
        self.call_hook("before_val_iter")
        self.run_iter(data_batch, train_mode=False)
        self.call_hook("after_val_iter")
        del self.data_batch
        self._inner_iter += 1

    def run(self, data_loaders: list, workflow: list, max_iters: int | None = None, **kwargs: Any) -> None:
        flows = check_workflow(data_loaders, workflow)
        if max_iters is not None:
            self._max_iters = max_iters
        if self._max_iters is None:
            raise ConfigError("IterBasedRunner needs max_iters", hint="runner = dict(type='IterBasedRunner', max_iters=90000)")
        self._log_start(flows, f"{self._max_iters} iters")
        loaders = [IterLoader(dl, on_new_pass=lambda e: self._seed_for(1, e)) for dl in data_loaders]
        for (mode, _), loader in zip(flows, loaders):
            if mode == "train":  # only training batches follow the step seeds
                loader.seed_step, loader.step_fn, loader.exact = self._seed_step, lambda: self.iter, self.deterministic
        for (mode, _), loader in zip(flows, loaders):
            if mode == "train" and self._train_loader is None:
                self._train_loader = loader
                if self._resumed:  # continue the data where the checkpoint left it
                    n = len(loader)
                    epoch, consumed = self._resume_position or (self.iter // n, self.iter % n)
                    loader.resume_at(epoch, consumed)
                    self._resumed = False
        with self._stopping():
            self.call_hook("before_run")
            self.resumed_state_dict = None  # hooks have taken what they need from it
            self.call_hook("before_epoch")
            while self.iter < self._max_iters:
                for (mode, iters), loader in zip(flows, loaders):
                    self._inner_iter = 0
                    for _ in range(iters):
                        if mode == "train" and self.iter >= self._max_iters:
                            break
                        getattr(self, mode)(loader, **kwargs)
            self.call_hook("after_epoch")
            self.call_hook("after_run")

    def register_training_hooks(self, lr_config: Any, optimizer_config: Any = None, checkpoint_config: Any = None,
                                log_config: Any = None, momentum_config: Any = None, timer_config: Any = None,
                                custom_hooks_config: Any = None) -> None:
        """As the base, with ``by_epoch=False`` as the default of checkpoint, LR and logger hooks."""
        if isinstance(checkpoint_config, dict):
            checkpoint_config = {"by_epoch": False, **checkpoint_config}
        if isinstance(lr_config, dict):
            lr_config = {"by_epoch": False, **lr_config}
        if isinstance(log_config, dict):
            log_config = dict(log_config)
            log_config["hooks"] = [{"by_epoch": False, **h} for h in log_config.get("hooks", [])]
        super().register_training_hooks(lr_config, optimizer_config, checkpoint_config, log_config,
                                        momentum_config, timer_config, custom_hooks_config)
