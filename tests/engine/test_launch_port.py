"""``--gpus N`` on a port that is taken: one line with the port and what to do, never a torch traceback."""

from __future__ import annotations

import socket

import pytest
from engine_toys import failing_worker

from detcli.engine import launch as launch_module
from detcli.engine.launch import LaunchSpec, launch
from detcli.errors import DetError


@pytest.fixture
def busy_port():
    """A port some other program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_busy_port_from_the_port_variable_fails_before_any_process_starts(busy_port, monkeypatch):
    monkeypatch.setenv("PORT", str(busy_port))
    started = []
    monkeypatch.setattr(launch_module.mp, "start_processes", lambda *a, **k: started.append(a))
    with pytest.raises(DetError) as err:
        launch(failing_worker, ("unused",), LaunchSpec(nprocs=2, backend="gloo"))
    assert str(err.value).startswith(f"port {busy_port} ($PORT) is already in use on this machine")
    assert err.value.hint == "set PORT to a free port, or unset it to let det pick one"
    assert not started
    with pytest.raises(DetError, match=f"port {busy_port} \\(--master-port\\)") as err:
        launch(failing_worker, ("unused",), LaunchSpec(nprocs=2, backend="gloo", master_port=busy_port))
    assert err.value.hint == "pass another --master-port"


def test_a_port_taken_after_the_check_is_reported_by_the_worker_the_same_way(busy_port, monkeypatch):
    """What a worker does when torch cannot listen on the port (run here, in this process)."""
    import queue

    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(var, "")  # the worker sets them; restored afterwards
    errors: queue.SimpleQueue = queue.SimpleQueue()
    spec = LaunchSpec(nprocs=1, backend="gloo", master_port=busy_port)
    with pytest.raises(SystemExit):
        launch_module._worker(0, failing_worker, ("unused",), spec, busy_port, "--master-port", errors)
    rank, kind, message, hint = errors.get_nowait()
    assert (rank, kind) == (0, "DetError")
    assert message.startswith(f"port {busy_port} (--master-port) is already in use") and hint == "pass another --master-port"


def test_det_train_with_a_busy_port_prints_one_line(busy_port, monkeypatch, tmp_path, capfd):
    from detcli.cli import main

    config = tmp_path / "toy.py"
    config.write_text(
        "custom_imports = dict(imports=['engine_toys'], allow_failed_imports=False)\n"
        "model = dict(type='ToyModel')\n"
        "data = dict(samples_per_gpu=1, workers_per_gpu=0, train=dict(type='ToyDataset', n=4))\n"
        "optimizer = dict(type='SGD', lr=0.01)\noptimizer_config = dict()\nlr_config = dict(policy='fixed')\n"
        "runner = dict(type='EpochBasedRunner', max_epochs=1)\nlog_config = dict(interval=1, hooks=[])\n")
    monkeypatch.setenv("PORT", str(busy_port))
    assert main(["train", str(config), "--gpus", "2", "--device", "cpu", "--work-dir", str(tmp_path / "w")]) == 1
    err = capfd.readouterr().err
    assert f"error: port {busy_port} ($PORT) is already in use" in err
    assert "Traceback" not in err and "DistNetworkError" not in err
    assert not list(tmp_path.rglob("*.pth"))
