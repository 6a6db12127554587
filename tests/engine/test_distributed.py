"""Distributed training on CPU (gloo): our own launcher, DDP equivalence, error propagation, env checks."""

from __future__ import annotations

import os

import pytest
import torch
from engine_toys import ToyDataset, ToyModel, ddp_worker, failing_worker, loader, make_runner, state_of

from detcli.engine.dist import _slurm_master_addr, get_dist_info, init_dist
from detcli.engine.launch import LaunchSpec, WorkerError, launch
from detcli.errors import ConfigError


def test_two_gloo_processes_match_one_process_with_the_same_total_batch(tmp_path):
    steps = 3
    launch(ddp_worker, (str(tmp_path), steps, 1), LaunchSpec(nprocs=2, backend="gloo"))
    ddp = torch.load(tmp_path / "ddp.pth", weights_only=True)

    torch.manual_seed(0)
    runner = make_runner(None, model=ToyModel(), max_epochs=1)
    runner.register_training_hooks(lr_config=None, optimizer_config={})
    runner.run([loader(ToyDataset(n=steps * 2), batch_size=2)], [("train", 1)])
    single = state_of(runner.model)
    torch.manual_seed(0)
    untrained = ToyModel().state_dict()
    assert not torch.equal(single["reg.weight"], untrained["reg.weight"])
    for k, v in single.items():
        assert torch.allclose(ddp[k], v, rtol=1e-5, atol=1e-6), k
    assert get_dist_info() == (0, 1)  # the parent never joined the group


def test_a_user_error_in_one_worker_comes_back_as_one_error():
    with pytest.raises(WorkerError, match="bad value in rank 1") as err:
        launch(failing_worker, ("bad value in rank 1",), LaunchSpec(nprocs=2, backend="gloo"))
    assert err.value.hint == "fix it"


def test_pytorch_launcher_without_torchrun_environment(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT") as err:
        init_dist("pytorch", backend="gloo")
    assert "torchrun" in err.value.hint


def test_slurm_launcher_needs_slurm_variables_and_parses_node_lists(monkeypatch):
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    with pytest.raises(ConfigError, match="SLURM_PROCID"):
        init_dist("slurm", backend="gloo")
    monkeypatch.setenv("PATH", "")  # no scontrol: parse the list ourselves
    assert _slurm_master_addr("gpu[01-04,07]") == "gpu01"
    assert _slurm_master_addr("nodeA,nodeB") == "nodeA"
    assert _slurm_master_addr("single") == "single"


def test_slurm_environment_becomes_a_process_group(monkeypatch):
    import torch.distributed as dist

    from detcli.engine.dist import find_free_port

    for var in ("MASTER_ADDR", "MASTER_PORT", "PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "0")
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_NODELIST", "localhost")
    monkeypatch.setenv("PATH", "")
    port = find_free_port()
    try:
        init_dist("slurm", backend="gloo", port=port)
        assert get_dist_info() == (0, 1)
        assert os.environ["MASTER_ADDR"] == "localhost" and os.environ["MASTER_PORT"] == str(port)
        assert os.environ["RANK"] == "0" and os.environ["WORLD_SIZE"] == "1"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            os.environ.pop(var, None)


def test_nccl_from_configs_falls_back_to_gloo_without_gpus(monkeypatch):
    import torch.distributed as dist

    from detcli.engine.dist import find_free_port

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    env = dict(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(find_free_port()))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    try:
        init_dist("pytorch", backend="nccl")
        assert dist.get_backend() == "gloo"
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_master_port_comes_from_the_flag_then_port_then_master_port(monkeypatch):
    from detcli.engine.launch import _port_and_source

    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("MASTER_PORT", raising=False)
    assert _port_and_source(LaunchSpec(nprocs=2, backend="gloo", nnodes=2))[0] == 29500  # nodes must agree
    assert 0 < _port_and_source(LaunchSpec(nprocs=2, backend="gloo"))[0] < 65536  # one node: any free port
    monkeypatch.setenv("MASTER_PORT", "23456")
    assert _port_and_source(LaunchSpec(nprocs=2, backend="gloo"))[0] == 23456
    monkeypatch.setenv("PORT", "29501")  # the guide's PORT=29501 ./tools/dist_train.sh ...
    assert _port_and_source(LaunchSpec(nprocs=2, backend="gloo"))[0] == 29501
    assert _port_and_source(LaunchSpec(nprocs=2, backend="gloo", master_port=31000))[0] == 31000
