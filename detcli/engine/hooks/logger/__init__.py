"""Logger hooks: text + json log, TensorBoard, W&B, MLflow."""

from detcli.engine.hooks.logger.base import LoggerHook
from detcli.engine.hooks.logger.mlflow import MlflowLoggerHook
from detcli.engine.hooks.logger.tensorboard import TensorboardLoggerHook
from detcli.engine.hooks.logger.text import TextLoggerHook
from detcli.engine.hooks.logger.wandb import WandbLoggerHook

__all__ = ["LoggerHook", "TextLoggerHook", "TensorboardLoggerHook", "WandbLoggerHook", "MlflowLoggerHook"]
