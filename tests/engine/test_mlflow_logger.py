"""MlflowLoggerHook with a recording stand-in for ``mlflow``: metrics while training, and with the
default ``log_model=True`` the last checkpoint file as an artifact when training ends."""

from __future__ import annotations

import os
import sys
import types

import pytest
from engine_toys import ToyDataset, loader, make_runner


class RecordingMlflow(types.ModuleType):
    """Records every call; ``pytorch.log_model`` fails like current MLflow does on a detector."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple] = []
        self.pytorch = types.SimpleNamespace(log_model=self._log_model)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, args, kwargs))

    def _log_model(self, *args, **kwargs):
        raise RuntimeError("If `serialization_format` is set to 'pt2', then input_example is required")


@pytest.fixture
def mlflow(monkeypatch):
    fake = RecordingMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    return fake


def train(work_dir, checkpoints=True, **hook):
    runner = make_runner(str(work_dir), max_epochs=2)
    runner.register_training_hooks(
        lr_config=None, optimizer_config=dict(grad_clip=None),
        checkpoint_config=dict(interval=1) if checkpoints else None,
        log_config=dict(interval=2, hooks=[dict(type="MlflowLoggerHook", exp_name="toys", **hook)]))
    runner.run([loader(ToyDataset(n=8))], [("train", 1)])
    return runner


def test_a_finished_training_logs_its_last_checkpoint_as_the_model(tmp_path, mlflow):
    train(tmp_path)
    names = [name for name, _, _ in mlflow.calls]
    assert names[0] == "set_experiment" and mlflow.calls[0][1] == ("toys",)
    metrics = [kwargs["step"] for name, _, kwargs in mlflow.calls if name == "log_metrics"]
    assert metrics == [2, 4, 6, 8]
    (artifact,) = [(args, kwargs) for name, args, kwargs in mlflow.calls if name == "log_artifact"]
    assert artifact == ((os.path.realpath(tmp_path / "epoch_2.pth"),), {"artifact_path": "models"})
    assert names[-1] == "log_artifact"


def test_without_checkpoints_it_warns_instead_of_failing(tmp_path, mlflow, caplog):
    with caplog.at_level("WARNING", logger="detcli"):
        train(tmp_path, checkpoints=False)
    assert "no checkpoint to log" in caplog.text
    assert not [c for c in mlflow.calls if c[0] == "log_artifact"]


def test_log_model_false_logs_no_artifact(tmp_path, mlflow):
    train(tmp_path, log_model=False)
    assert [c for c in mlflow.calls if c[0] == "log_metrics"]
    assert not [c for c in mlflow.calls if c[0] == "log_artifact"]
