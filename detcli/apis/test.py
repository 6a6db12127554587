"""Running a detector over a whole data loader: one process, or several gathering in dataset order."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from detcli.apis.progress import progress_bar
from detcli.atomic_write import atomic_open
from detcli.data.bad_images import report_bad_images


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def tensor_to_images(img: torch.Tensor, mean: Any, std: Any, to_rgb: bool = True) -> list[np.ndarray]:
    """Undo ``Normalize`` on a (B, 3, H, W) batch: BGR uint8 images for drawing."""
    mean = torch.as_tensor(np.asarray(mean, np.float32)).view(1, -1, 1, 1)
    std = torch.as_tensor(np.asarray(std, np.float32)).view(1, -1, 1, 1)
    pixels = (img.detach().float().cpu() * std + mean).clamp_(0, 255).permute(0, 2, 3, 1).numpy()
    if to_rgb:  # the network saw RGB: back to OpenCV's BGR
        pixels = pixels[..., ::-1]
    return [np.ascontiguousarray(p).round().astype(np.uint8) for p in pixels]


def encode_results(result: list) -> list:
    """Masks as RLE (compact to keep, gather and pickle); boxes and proposals unchanged."""
    from detcli.evaluation.coco_format import encode_mask_results

    if result and isinstance(result[0], tuple):
        return [(bbox, encode_mask_results(segm)) if not isinstance(segm, tuple)
                else (bbox, (encode_mask_results(segm[0]), segm[1])) for bbox, segm in result]
    return list(result)


def _first_aug(batch: dict) -> tuple[torch.Tensor, list[dict]]:
    """The images and metas of the first test-time augmentation (or the only one)."""
    img, metas = batch["img"], batch["img_metas"]
    if isinstance(img, (list, tuple)):
        img, metas = img[0], metas[0]
    return img, metas


def draw_batch(model: Any, batch: dict, result: list, show: bool, out_dir: str | None, score_thr: float,
               palette: Any) -> None:
    """Draw each image's detections on the (un-normalised, un-padded, original-size) image."""
    import cv2

    detector = getattr(model, "module", model)
    img, metas = _first_aug(batch)
    norm = metas[0].get("img_norm_cfg", {"mean": [0, 0, 0], "std": [1, 1, 1], "to_rgb": False})
    images = tensor_to_images(img, norm["mean"], norm["std"], norm.get("to_rgb", True))
    for image, meta, res in zip(images, metas, result):
        h, w = meta["img_shape"][:2]
        ori_h, ori_w = meta["ori_shape"][:2]
        shown = cv2.resize(image[:h, :w], (int(ori_w), int(ori_h)), interpolation=cv2.INTER_LINEAR)
        out_file = None
        if out_dir:
            name = meta.get("ori_filename") or os.path.basename(meta.get("filename") or "image.png")
            out_file = os.path.join(out_dir, name)
        detector.show_result(shown, res, bbox_color=palette, text_color=palette, mask_color=palette,
                             show=show, out_file=out_file, score_thr=score_thr)


def _forward(model: torch.nn.Module, batch: dict, device: torch.device) -> list:
    from detcli.data import to_device

    with torch.no_grad():
        return model(return_loss=False, rescale=True, **to_device(batch, device))


@contextlib.contextmanager
def _releasing_workers(batches: Any) -> Iterator[None]:
    """Stop the loader's workers at once when an error ends the loop (not at a later garbage collection)."""
    from detcli.data.loader import release_workers

    try:
        yield
    except BaseException:
        release_workers(batches)
        raise


def single_gpu_test(model: torch.nn.Module, data_loader: Any, show: bool = False, out_dir: str | None = None,
                    show_score_thr: float = 0.3) -> list:
    """Results for every image of ``data_loader.dataset``, in order (masks RLE-encoded).

    ``show`` opens a window per image (fails at once, with one line, where no display
    exists); ``out_dir`` saves the drawings under the images' file names.
    """
    if show:
        from detcli.visualization import require_display

        require_display("--show")
    model.eval()
    device = model_device(model)
    dataset = data_loader.dataset
    palette = getattr(dataset, "PALETTE", None)
    results: list = []
    batches = iter(data_loader)
    with progress_bar(len(dataset), "test") as bar, _releasing_workers(batches):
        for batch in batches:
            result = _forward(model, batch, device)
            if show or out_dir:
                draw_batch(model, batch, result, show, out_dir, show_score_thr, palette)
            results.extend(encode_results(result))
            bar.advance(len(result))
    report_bad_images(dataset, "test")
    return results


def multi_gpu_test(model: torch.nn.Module, data_loader: Any, tmpdir: str | None = None,
                   gpu_collect: bool = False) -> list | None:
    """Test in every process of the group; rank 0 returns all results in dataset order, others None.

    The loader must use the ordered ``DistributedSampler`` (rank ``r`` gets images
    ``r, r + n, ...``). Results travel through ``tmpdir`` (shared storage), or through
    the process group itself with ``gpu_collect`` (works on gloo and NCCL).
    """
    from detcli.engine.dist import get_dist_info

    model.eval()
    rank, world_size = get_dist_info()
    device = model_device(model)
    dataset = data_loader.dataset
    results: list = []
    batches = iter(data_loader)
    with progress_bar(len(dataset), "test", enabled=rank == 0) as bar, _releasing_workers(batches):
        for batch in batches:
            result = _forward(model, batch, device)
            results.extend(encode_results(result))
            bar.advance(min(len(result) * world_size, len(dataset) - bar.done))
    report_bad_images(dataset, f"test (process {rank})")
    if gpu_collect:
        return collect_results_gpu(results, len(dataset))
    return collect_results_cpu(results, len(dataset), tmpdir)


def _interleave(parts: list[list], size: int) -> list:
    """Undo the sampler's striding: part r holds items r, r + n, r + 2n, ... (the tail is padding)."""
    ordered = [item for group in zip(*parts) for item in group]
    longest = max((len(p) for p in parts), default=0)
    for j in range(min(len(p) for p in parts) if parts else 0, longest):  # uneven parts: finish the tail
        ordered.extend(p[j] for p in parts if j < len(p))
    return ordered[:size]


def collect_results_cpu(result_part: list, size: int, tmpdir: str | None = None) -> list | None:
    """Gather through files: each rank pickles its part, rank 0 reads and orders them."""
    import torch.distributed as dist

    from detcli.engine.dist import broadcast_object, get_dist_info

    rank, world_size = get_dist_info()
    if world_size == 1:
        return result_part[:size]
    parent = Path(tmpdir) if tmpdir is not None else Path(".dist_test")
    path = None
    if rank == 0:  # a fresh folder inside the given one: only it is removed afterwards
        parent.mkdir(parents=True, exist_ok=True)
        path = tempfile.mkdtemp(prefix="parts_", dir=parent)
    tmpdir = broadcast_object(path, src=0)
    with atomic_open(Path(tmpdir) / f"part_{rank}.pkl", "wb") as fh:
        pickle.dump(result_part, fh, protocol=pickle.HIGHEST_PROTOCOL)
    dist.barrier()
    if rank != 0:
        return None
    parts = []
    for r in range(world_size):
        # plain pickle: these parts are this run's own, in a folder mkdtemp made private (0700), and
        # may hold whatever a custom model returns; user-supplied pickles go through detcli.data.safe_pickle
        with open(Path(tmpdir) / f"part_{r}.pkl", "rb") as fh:
            parts.append(pickle.load(fh))
    shutil.rmtree(tmpdir, ignore_errors=True)
    try:
        parent.rmdir()  # only when empty (the user's folder, or other runs' parts, stay)
    except OSError:
        pass
    return _interleave(parts, size)


def collect_results_gpu(result_part: list, size: int) -> list | None:
    """Gather through the process group (``all_gather_object``); rank 0 orders the parts."""
    import torch.distributed as dist

    from detcli.engine.dist import get_dist_info

    rank, world_size = get_dist_info()
    if world_size == 1:
        return result_part[:size]
    parts: list = [None] * world_size
    dist.all_gather_object(parts, result_part)
    if rank != 0:
        return None
    return _interleave(parts, size)
