"""Proposal recall at several proposal counts and IoU thresholds (``eval_recalls``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detcli.evaluation.overlaps import bbox_overlaps
from detcli.evaluation.report import LoggerLike, emit, make_table


def _as_array(values: int | float | Sequence | np.ndarray | None, default: Sequence) -> np.ndarray:
    if values is None:
        return np.asarray(default)
    return np.atleast_1d(np.asarray(values))


def _greedy_best_ious(ious: np.ndarray) -> np.ndarray:
    """For each gt, the IoU it gets under greedy one-to-one matching (highest pair first)."""
    ious = ious.copy()
    out = np.zeros(ious.shape[0], dtype=np.float32)
    for j in range(min(ious.shape)):  # at most one pair per gt/proposal
        flat = int(ious.argmax())
        g, p = divmod(flat, ious.shape[1])
        if ious[g, p] < 0:
            break
        out[j] = ious[g, p]
        ious[g, :] = -1
        ious[:, p] = -1
    return out


def eval_recalls(gts: Sequence[np.ndarray | None], proposals: Sequence[np.ndarray],
                 proposal_nums: int | Sequence[int] | None = None, iou_thrs: float | Sequence[float] = 0.5,
                 logger: LoggerLike = None, use_legacy_coordinate: bool = False) -> np.ndarray:
    """Recall (num_proposal_nums, num_iou_thrs): the fraction of gt boxes covered by the top-N proposals.

    Proposals with a score column are ranked by it; each proposal covers at most one gt
    (greedy one-to-one matching by IoU).
    """
    if len(gts) != len(proposals):
        raise ValueError(f"{len(gts)} images of ground truth but {len(proposals)} of proposals")
    nums = _as_array(proposal_nums, [1000]).astype(np.int64)
    thrs = _as_array(iou_thrs, [0.5]).astype(np.float64)
    per_num: list[list[np.ndarray]] = [[] for _ in nums]
    for gt, props in zip(gts, proposals):
        props = np.asarray(props, np.float32)
        if props.ndim == 2 and props.shape[1] == 5:
            props = props[np.argsort(props[:, 4])[::-1]]
        props = props.reshape(-1, props.shape[-1] if props.ndim == 2 else 4)[: int(nums.max())]
        gt = np.zeros((0, 4), np.float32) if gt is None else np.asarray(gt, np.float32).reshape(-1, 4)
        ious = bbox_overlaps(gt, props[:, :4], use_legacy_coordinate=use_legacy_coordinate)
        for k, num in enumerate(nums):
            per_num[k].append(_greedy_best_ious(ious[:, :num]))
    total = sum(len(np.asarray(g).reshape(-1, 4)) for g in gts if g is not None)
    recalls = np.zeros((len(nums), len(thrs)))
    if total:
        for k in range(len(nums)):
            best = np.concatenate(per_num[k])
            recalls[k] = (best[:, None] >= thrs[None, :]).sum(axis=0) / float(total)
    print_recall_summary(recalls, nums, thrs, logger=logger)
    return recalls


def print_recall_summary(recalls: np.ndarray, proposal_nums: Sequence[int], iou_thrs: Sequence[float],
                         row_idxs: Sequence[int] | None = None, col_idxs: Sequence[int] | None = None,
                         logger: LoggerLike = None) -> None:
    """A table: one row per proposal count, one column per IoU threshold."""
    if logger == "silent":
        return
    nums = np.asarray(proposal_nums, dtype=np.int64)
    thrs = np.asarray(iou_thrs, dtype=np.float64)
    rows_i = np.arange(nums.size) if row_idxs is None else np.asarray(row_idxs)
    cols_i = np.arange(thrs.size) if col_idxs is None else np.asarray(col_idxs)
    headers = ["proposals"] + [f"{t:.2f}" for t in thrs[cols_i]]
    rows = [[int(nums[i])] + [f"{recalls[i, j]:.3f}" for j in cols_i] for i in rows_i]
    emit(make_table(headers, rows, title="recall"), logger)
