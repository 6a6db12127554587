"""Data pipeline transforms (registered in ``PIPELINES``), grouped by what they do."""

from detcli.data.pipelines.albu import Albu
from detcli.data.pipelines.compose import Compose, replace_ImageToTensor
from detcli.data.pipelines.cropping import Expand, MinIoURandomCrop, RandomCrop, RandomShift
from detcli.data.pipelines.formatting import (
    Collect,
    DefaultFormatBundle,
    ImageToTensor,
    ToDataContainer,
    ToTensor,
    Transpose,
    WrapFieldsToLists,
    to_tensor,
)
from detcli.data.pipelines.geometric import Pad, RandomFlip, Resize, SegRescale
from detcli.data.pipelines.loading import (
    FilterAnnotations,
    LoadAnnotations,
    LoadImageFromFile,
    LoadImageFromWebcam,
    LoadMultiChannelImageFromFiles,
    LoadProposals,
)
from detcli.data.pipelines.photometric import Corrupt, Normalize, PhotoMetricDistortion
from detcli.data.pipelines.test_time_aug import MultiScaleFlipAug
from detcli.registry import PIPELINES

__all__ = [
    "PIPELINES", "Albu", "Compose", "replace_ImageToTensor", "LoadImageFromFile", "LoadImageFromWebcam",
    "LoadMultiChannelImageFromFiles", "LoadAnnotations", "LoadProposals", "FilterAnnotations", "Resize",
    "RandomFlip", "Pad", "SegRescale", "RandomCrop", "Expand", "MinIoURandomCrop", "RandomShift", "Normalize",
    "PhotoMetricDistortion", "Corrupt", "ToTensor", "ImageToTensor", "Transpose", "ToDataContainer",
    "DefaultFormatBundle", "Collect", "WrapFieldsToLists", "MultiScaleFlipAug", "to_tensor",
]
