"""Datasets, pipelines, batching and loading.

Importing this package registers every dataset (``DATASETS``) and transform
(``PIPELINES``); ``build_dataset`` / ``build_dataloader`` turn config dicts into them.
"""

from detcli.data import pipelines  # noqa: F401 - registers every transform
from detcli.data.collate import collate, to_device
from detcli.data.data_container import DataContainer
from detcli.data.datasets import (
    CityscapesDataset,
    ClassBalancedDataset,
    CocoDataset,
    ConcatDataset,
    CustomDataset,
    RepeatDataset,
    VOCDataset,
    XMLDataset,
    build_dataset,
)
from detcli.data.file_io import list_from_file
from detcli.data.image_io import imread
from detcli.data.loader import build_dataloader, worker_init_fn
from detcli.data.pipelines import Compose, replace_ImageToTensor
from detcli.data.samplers import DistributedGroupSampler, DistributedSampler, GroupSampler
from detcli.registry import DATASETS, PIPELINES

__all__ = [
    "DATASETS", "PIPELINES", "DataContainer", "collate", "to_device", "imread", "list_from_file", "Compose",
    "replace_ImageToTensor", "build_dataset", "build_dataloader", "worker_init_fn", "GroupSampler",
    "DistributedGroupSampler", "DistributedSampler", "CustomDataset", "CocoDataset", "CityscapesDataset",
    "XMLDataset", "VOCDataset", "ConcatDataset", "RepeatDataset", "ClassBalancedDataset",
]
