"""detcli.models.task_modules."""
