"""Generated demo data: the shapes instance-segmentation set (``det make-data shapes``)."""

from detcli.data.synthetic.export import generate_shapes
from detcli.data.synthetic.shapes import SHAPE_CLASSES, SceneSpec, sample_scene

__all__ = ["generate_shapes", "sample_scene", "SceneSpec", "SHAPE_CLASSES"]
