"""Reusable CLI pieces for config overrides: ``--cfg-options a=1 b=2`` and friends.

mmdetection's tools take several values after one flag (argparse ``nargs='+'``), e.g.
``--cfg-options model.backbone.depth=101 data.samples_per_gpu=4`` or ``--eval bbox segm``.
Click has no such option type, so commands built with ``cls=MultiValueCommand`` rewrite
``--flag v1 v2`` into ``--flag v1 --flag v2`` before parsing, for every option declared
with a list type. Usage in a command module::

    from detcli.cli.options import MultiValueCommand, cfg_options_option, overrides_from

    @app.command("train", cls=MultiValueCommand)
    def train(config: Path, cfg_options: list[str] | None = cfg_options_option()):
        overrides = overrides_from(cfg_options)   # {'model.backbone.depth': 101, ...}

Values are read by :func:`detcli.config.parse_cfg_options` (mmcv ``DictAction`` syntax).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from typer.core import TyperCommand

from detcli.config import parse_cfg_options
from detcli.errors import ConfigError

_NEGATIVE_NUMBER = re.compile(r"-\d|-\.\d")

CFG_OPTIONS_HELP = (
    "Override config settings: one or more KEY=VALUE after the flag, e.g. "
    "model.backbone.depth=101 'data.train.pipeline.2.img_scale=(1333,800)' x=[1,2] "
    "\"model.backbone.init_cfg=dict(type='Pretrained', checkpoint='x.pth')\" "
    "(dotted keys, list indices, Python-like values; a,b is a list; dict(...) and {...} are dicts)."
)


def expand_multi_value_flags(args: Sequence[str], flags: Iterable[str]) -> list[str]:
    """``['--x', 'a', 'b', '--y']`` -> ``['--x', 'a', '--x', 'b', '--y']`` for each flag in ``flags``.

    Values run until the next token that looks like an option (``-n``/``--name``, but not a
    negative number) or ``--``; everything after ``--`` is left alone.
    """
    flags = set(flags)
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            out.extend(args[i:])
            break
        out.append(token)
        i += 1
        if token not in flags:
            continue
        values = []
        while i < len(args) and not _looks_like_option(args[i]):
            values.append(args[i])
            i += 1
        for n, value in enumerate(values):
            if n:
                out.append(token)
            out.append(value)
    return out


def _looks_like_option(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not _NEGATIVE_NUMBER.match(token)


class MultiValueCommand(TyperCommand):
    """A Typer command whose list-typed options each take one or more values after one flag."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        flags = [
            name
            for param in self.params
            if getattr(param, "multiple", False) and getattr(param, "param_type_name", "") == "option"
            for name in param.opts
        ]
        return super().parse_args(ctx, expand_multi_value_flags(args, flags))


def cfg_options_option() -> Any:
    """``--cfg-options KEY=VALUE ...``: overrides merged into the loaded config."""
    return typer.Option(None, "--cfg-options", metavar="KEY=VALUE...", help=CFG_OPTIONS_HELP)


def deprecated_options_option(replacement: str = "--cfg-options") -> Any:
    """``--options KEY=VALUE ...``: the older spelling of ``replacement`` (accepted, with a warning)."""
    return typer.Option(
        None, "--options", metavar="KEY=VALUE...", help=f"Deprecated spelling of {replacement}.", hidden=True
    )


def eval_options_option() -> Any:
    """``--eval-options KEY=VALUE ...``: keyword arguments for ``dataset.evaluate``."""
    return typer.Option(
        None,
        "--eval-options",
        metavar="KEY=VALUE...",
        help="Extra keyword arguments for evaluation, e.g. classwise=True iou_thrs=[0.5,0.75].",
    )


def overrides_from(
    values: list[str] | None, deprecated: list[str] | None = None, flag: str = "--cfg-options"
) -> dict[str, Any]:
    """Parse ``values`` (and the deprecated ``--options`` spelling, which may not be combined with it)."""
    if values and deprecated:
        raise ConfigError(
            f"--options and {flag} cannot both be given",
            hint=f"--options is the deprecated spelling of {flag}; use {flag} only",
        )
    if deprecated:
        print(f"warning: --options is deprecated, use {flag}", file=sys.stderr)
    return parse_cfg_options(values or deprecated)
