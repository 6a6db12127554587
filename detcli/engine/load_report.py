"""What loading a checkpoint into a model left out, said in a few lines.

A checkpoint of another architecture can miss hundreds of keys; listing them all makes
one unreadable line. The report counts missing, unexpected and other-shape keys, names
a few of each grouped by module (``backbone.layer4``, ``roi_head.mask_head``), and
measures how much of the model the checkpoint actually filled, so that a test run can
refuse a model that is mostly random weights.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from detcli.errors import CheckpointError

# how many module groups / keys each line of the summary names
_GROUPS_SHOWN = 4
_MISMATCHES_SHOWN = 6  # a fine-tuned Mask R-CNN's class layers


def module_prefix(key: str, depth: int = 2) -> str:
    """``roi_head.bbox_head.fc_cls.weight`` -> ``roi_head.bbox_head``: the module a key belongs to."""
    parts = key.split(".")[:-1] or [key]
    return ".".join(parts[:depth])


def group_by_module(keys: Iterable[str], shown: int = _GROUPS_SHOWN) -> str:
    """``backbone.layer4 (60), roi_head.mask_head (12), ... and 3 more modules``, largest groups first."""
    counts = Counter(module_prefix(k) for k in keys)
    groups = [f"{name} ({n})" for name, n in counts.most_common(shown)]
    rest = len(counts) - len(groups)
    return ", ".join(groups) + (f" and {rest} more module{'s' if rest > 1 else ''}" if rest > 0 else "")


@dataclass
class LoadReport:
    """What a non-strict load left out; ``str()`` is the few-line summary to log.

    ``model_values``/``loaded_values`` count tensor elements (weights and buffers, without
    BN's ``num_batches_tracked``): how much of the model the checkpoint filled.
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple, tuple]] = field(default_factory=list)
    model_values: int = 0
    loaded_values: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def loaded_fraction(self) -> float:
        """Share of the model's values that came from the checkpoint (1.0 for an empty model)."""
        return self.loaded_values / self.model_values if self.model_values else 1.0

    def counts(self) -> str:
        """``keys: 3 missing, 1 with another shape`` (kinds that did not occur are left out)."""
        kinds = [(len(self.missing), "missing"), (len(self.unexpected), "unexpected"),
                 (len(self.mismatched), "with another shape")]
        return "keys: " + (", ".join(f"{n} {kind}" for n, kind in kinds if n) or "all matched")

    def __str__(self) -> str:
        if self.clean:
            return "all keys matched"
        lines = [f"{self.loaded_fraction:.0%} of the model's weights loaded; {self.counts()}"]
        if self.missing:
            lines.append(f"  missing in the checkpoint: {group_by_module(self.missing)}")
        if self.unexpected:
            lines.append(f"  not in the model: {group_by_module(self.unexpected)}")
        if self.mismatched:
            shapes = [f"{k} {tuple(a)} vs model {tuple(b)}" for k, a, b in self.mismatched]
            if len(shapes) > _MISMATCHES_SHOWN:  # modules, and one example
                shapes = [group_by_module(k for k, _, _ in self.mismatched), f"e.g. {shapes[0]}"]
            lines.append(f"  other shapes (kept the model's): {', '.join(shapes)}")
        return "\n".join(lines)

    def require_loaded(self, min_fraction: float, filename: str, flag: str = "--allow-partial") -> None:
        """Refuse a model that ``filename`` filled to less than ``min_fraction`` (a checkpoint of another model)."""
        if self.loaded_fraction >= min_fraction:
            return
        raise CheckpointError(
            f"{filename} fills only {self.loaded_fraction:.0%} of the model's weights ({self.counts()}): "
            "it looks like a checkpoint of another model, and the rest would be random",
            hint=f"check that the config and the checkpoint belong together; to go on anyway, add {flag}",
        )
