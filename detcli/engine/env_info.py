"""The environment a run used, logged at its start and saved in its json log and checkpoints."""

from __future__ import annotations

import platform
import sys
from collections import OrderedDict


def collect_env() -> OrderedDict:
    import cv2
    import numpy as np
    import torch
    import torchvision

    import detcli

    env: OrderedDict = OrderedDict()
    env["sys.platform"] = sys.platform
    env["Python"] = sys.version.replace("\n", "")
    env["Machine"] = platform.machine()
    cuda = torch.cuda.is_available()
    env["CUDA available"] = cuda
    if cuda:
        names: dict[str, list[str]] = {}
        for i in range(torch.cuda.device_count()):
            names.setdefault(torch.cuda.get_device_name(i), []).append(str(i))
        for name, ids in names.items():
            env["GPU " + ",".join(ids)] = name
        env["CUDA (torch build)"] = torch.version.cuda
        env["cuDNN"] = torch.backends.cudnn.version()
    env["PyTorch"] = torch.__version__
    env["TorchVision"] = torchvision.__version__
    env["OpenCV"] = cv2.__version__
    env["NumPy"] = np.__version__
    env["detcli"] = detcli.__version__
    env["torch threads"] = torch.get_num_threads()
    return env


def format_env(env: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in env.items())
