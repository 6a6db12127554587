"""Class names of the standard datasets, looked up by dataset name or alias."""

from __future__ import annotations

from detcli.errors import DetError

COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
CITYSCAPES_CLASSES = ("person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle")
WIDER_FACE_CLASSES = ("face",)

_ALIASES = {
    "coco": (COCO_CLASSES, ("coco", "mscoco", "ms_coco")),
    "voc": (VOC_CLASSES, ("voc", "pascal_voc", "voc07", "voc12")),
    "cityscapes": (CITYSCAPES_CLASSES, ("cityscapes", "citys")),
    "wider_face": (WIDER_FACE_CLASSES, ("wider_face", "WIDERFace", "WIDERFaceDataset")),
}


def coco_classes() -> list[str]:
    return list(COCO_CLASSES)


def voc_classes() -> list[str]:
    return list(VOC_CLASSES)


def cityscapes_classes() -> list[str]:
    return list(CITYSCAPES_CLASSES)


def get_classes(dataset: str) -> list[str]:
    """The class names of a dataset given by name or alias ('coco', 'voc07', 'cityscapes', ...)."""
    for classes, aliases in _ALIASES.values():
        if dataset in aliases:
            return list(classes)
    known = sorted(a for _, aliases in _ALIASES.values() for a in aliases)
    raise DetError(f"unknown dataset name {dataset!r} for class names", hint=f"use one of: {', '.join(known)}")
