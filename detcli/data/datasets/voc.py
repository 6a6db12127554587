"""``VOCDataset``: Pascal VOC 2007/2012 (year read from ``img_prefix``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from detcli.data.datasets.xml_style import XMLDataset
from detcli.errors import DataError
from detcli.evaluation.class_names import VOC_CLASSES
from detcli.registry import DATASETS


@DATASETS.register_module()
class VOCDataset(XMLDataset):
    """VOC XML data; ``year`` (2007: 11-point AP, 2012: area AP) comes from ``img_prefix``."""

    CLASSES = VOC_CLASSES

    def __init__(self, **kwargs: Any) -> None:
        prefix = os.path.join(kwargs.get("data_root") or "", kwargs.get("img_prefix") or "")
        if "VOC2007" in prefix:
            self.year = 2007
        elif "VOC2012" in prefix:
            self.year = 2012
        else:
            raise DataError(f"cannot tell the VOC year from img_prefix {prefix!r}",
                            hint="img_prefix must contain VOC2007 or VOC2012; for other XML sets use XMLDataset")
        super().__init__(**kwargs)

    def evaluate(self, results: list, metric: str | Sequence[str] = "mAP", logger: Any = None,
                 proposal_nums: Sequence[int] = (100, 300, 1000), iou_thr: float | Sequence[float] = 0.5,
                 scale_ranges: Sequence[tuple] | None = None) -> dict[str, float]:
        """VOC mAP with the devkit's conventions for this ``year``, or proposal recall."""
        return super().evaluate(results, metric, logger, proposal_nums, iou_thr, scale_ranges)
