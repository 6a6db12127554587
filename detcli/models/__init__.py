"""Detection models: every built-in part is imported here so the registries know it."""

from . import backbones, layers, losses, necks, task_modules  # noqa: F401  (registration)
