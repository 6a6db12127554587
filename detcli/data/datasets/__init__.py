"""Dataset classes (registered in ``DATASETS``) and ``build_dataset``."""

from detcli.data.datasets.builder import build_dataset
from detcli.data.datasets.coco import CityscapesDataset, CocoDataset
from detcli.data.datasets.custom import CustomDataset
from detcli.data.datasets.voc import VOCDataset
from detcli.data.datasets.wrappers import ClassBalancedDataset, ConcatDataset, RepeatDataset
from detcli.data.datasets.xml_style import XMLDataset

__all__ = [
    "build_dataset", "CustomDataset", "CocoDataset", "CityscapesDataset", "XMLDataset", "VOCDataset",
    "ConcatDataset", "RepeatDataset", "ClassBalancedDataset",
]
