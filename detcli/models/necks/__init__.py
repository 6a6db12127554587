"""Necks."""

from .bfp import BFP
from .fpn import FPN
from .hrfpn import HRFPN
from .nas_fpn import NASFPN
from .pafpn import PAFPN

__all__ = ["FPN", "PAFPN", "HRFPN", "NASFPN", "BFP"]
