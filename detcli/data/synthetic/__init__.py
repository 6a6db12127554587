"""Generated demo data: the shapes instance-segmentation set (``det make-data shapes``), a
moving-shapes video (``det make-data video``) and a Cityscapes-layout tree (``det make-data cityscapes``)."""

from detcli.data.synthetic.cityscapes import generate_cityscapes
from detcli.data.synthetic.export import generate_shapes
from detcli.data.synthetic.shapes import SHAPE_CLASSES, SceneSpec, sample_scene
from detcli.data.synthetic.video import generate_shapes_video, shapes_video_frames

__all__ = ["generate_shapes", "sample_scene", "SceneSpec", "SHAPE_CLASSES", "generate_shapes_video",
           "shapes_video_frames", "generate_cityscapes"]
