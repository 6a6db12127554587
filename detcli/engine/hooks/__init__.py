"""Training hooks; importing this package registers all of them in ``HOOKS``."""

from detcli.engine.hooks.bad_images import BadImageReportHook
from detcli.engine.hooks.check_invalid_loss import CheckInvalidLossHook
from detcli.engine.hooks.checkpoint import CheckpointHook
from detcli.engine.hooks.ema import BaseEMAHook, EMAHook, ExpMomentumEMAHook, LinearMomentumEMAHook
from detcli.engine.hooks.evaluation import DistEvalHook, EvalHook
from detcli.engine.hooks.hook import Hook
from detcli.engine.hooks.iter_timer import IterTimerHook
from detcli.engine.hooks.logger import (
    LoggerHook,
    MlflowLoggerHook,
    TensorboardLoggerHook,
    TextLoggerHook,
    WandbLoggerHook,
)
from detcli.engine.hooks.lr_updater import (
    CosineAnnealingLrUpdaterHook,
    CosineRestartLrUpdaterHook,
    CyclicLrUpdaterHook,
    ExpLrUpdaterHook,
    FixedLrUpdaterHook,
    FlatCosineAnnealingLrUpdaterHook,
    InvLrUpdaterHook,
    LinearAnnealingLrUpdaterHook,
    LrUpdaterHook,
    OneCycleLrUpdaterHook,
    PolyLrUpdaterHook,
    StepLrUpdaterHook,
)
from detcli.engine.hooks.momentum_updater import (
    CosineAnnealingMomentumUpdaterHook,
    CyclicMomentumUpdaterHook,
    LinearAnnealingMomentumUpdaterHook,
    MomentumUpdaterHook,
    OneCycleMomentumUpdaterHook,
    StepMomentumUpdaterHook,
)
from detcli.engine.hooks.num_class_check import NumClassCheckHook
from detcli.engine.hooks.optimizer import (
    Fp16OptimizerHook,
    GradientCumulativeFp16OptimizerHook,
    GradientCumulativeOptimizerHook,
    OptimizerHook,
)
from detcli.engine.hooks.progress import ProgressBarHook
from detcli.engine.hooks.sampler_seed import DistSamplerSeedHook
from detcli.engine.hooks.sync_buffers import SyncBuffersHook

__all__ = [
    "Hook", "CheckInvalidLossHook", "CheckpointHook", "BaseEMAHook", "EMAHook", "ExpMomentumEMAHook",
    "LinearMomentumEMAHook", "EvalHook", "DistEvalHook", "IterTimerHook", "LoggerHook", "TextLoggerHook",
    "TensorboardLoggerHook", "WandbLoggerHook", "MlflowLoggerHook", "LrUpdaterHook", "FixedLrUpdaterHook",
    "StepLrUpdaterHook", "ExpLrUpdaterHook", "PolyLrUpdaterHook", "InvLrUpdaterHook",
    "CosineAnnealingLrUpdaterHook", "LinearAnnealingLrUpdaterHook", "FlatCosineAnnealingLrUpdaterHook",
    "CosineRestartLrUpdaterHook", "CyclicLrUpdaterHook", "OneCycleLrUpdaterHook", "MomentumUpdaterHook",
    "StepMomentumUpdaterHook", "CosineAnnealingMomentumUpdaterHook", "LinearAnnealingMomentumUpdaterHook",
    "CyclicMomentumUpdaterHook", "OneCycleMomentumUpdaterHook", "NumClassCheckHook", "OptimizerHook",
    "GradientCumulativeOptimizerHook", "Fp16OptimizerHook", "GradientCumulativeFp16OptimizerHook",
    "ProgressBarHook", "DistSamplerSeedHook", "SyncBuffersHook", "BadImageReportHook",
]
