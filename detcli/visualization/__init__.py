"""Drawing detections on images (OpenCV), colour palettes, and safe window display."""

from detcli.visualization.display import DisplayError, display_problem, require_display, show_image
from detcli.visualization.image import (
    draw_detections,
    imshow_det_bboxes,
    imshow_gt_det_bboxes,
    result_to_arrays,
)
from detcli.visualization.image_io import read_bgr, write_image
from detcli.visualization.palette import (
    CITYSCAPES_PALETTE,
    COCO_PALETTE,
    VOC_PALETTE,
    color_rgb,
    get_palette,
    random_palette,
)

__all__ = [
    "imshow_det_bboxes", "imshow_gt_det_bboxes", "draw_detections", "result_to_arrays", "get_palette", "random_palette",
    "color_rgb", "COCO_PALETTE", "VOC_PALETTE", "CITYSCAPES_PALETTE", "DisplayError", "display_problem",
    "require_display", "show_image", "read_bgr", "write_image",
]
