"""Reading and writing videos frame by frame (OpenCV), with the 2.x ``VideoReader`` interface."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from detcli.atomic_write import temp_beside
from detcli.errors import DataError


class VideoReader:
    """Frames of a video file (BGR arrays): iterate, index, ``len()``; ``fps``/``width``/``height``.

    >>> for frame in VideoReader('video.mp4'):
    ...     result = inference_detector(model, frame)
    """

    def __init__(self, filename: str | os.PathLike) -> None:
        path = Path(filename)
        if not path.is_file():
            raise DataError(f"video file not found: {path}", hint="check the path")
        self.filename = str(path)
        self._cap = cv2.VideoCapture(self.filename)
        if not self._cap.isOpened():
            raise DataError(f"cannot open video {path}", hint="is it a video format OpenCV reads (mp4, avi)?")
        self._position = 0

    @property
    def vcap(self) -> cv2.VideoCapture:
        return self._cap

    @property
    def opened(self) -> bool:
        return self._cap.isOpened()

    @property
    def width(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))

    @property
    def height(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    @property
    def resolution(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def fps(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_FPS))

    @property
    def frame_cnt(self) -> int:
        return int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))

    @property
    def fourcc(self) -> str:
        code = int(self._cap.get(cv2.CAP_PROP_FOURCC))
        return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))

    @property
    def position(self) -> int:
        """Index of the next frame ``read()`` returns."""
        return self._position

    def __len__(self) -> int:
        return self.frame_cnt

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end."""
        ok, frame = self._cap.read()
        if not ok:
            return None
        self._position += 1
        return frame

    def get_frame(self, index: int) -> np.ndarray | None:
        """Frame ``index`` (seeking when it is not the next one)."""
        if index < 0 or index >= self.frame_cnt:
            raise IndexError(f"frame {index} is out of range (the video has {self.frame_cnt} frames)")
        if index != self._position:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._position = index
        return self.read()

    def __getitem__(self, index: int) -> np.ndarray | None:
        return self.get_frame(index if index >= 0 else self.frame_cnt + index)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._position != 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self._position = 0
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        cap = getattr(self, "_cap", None)
        if cap is not None:
            cap.release()


class VideoWriter:
    """Write frames to a video that appears under its name only once complete (temp file + rename)."""

    def __init__(self, filename: str | os.PathLike, fps: float, size: tuple[int, int], fourcc: str = "mp4v") -> None:
        self.path = Path(filename)
        self._tmp = temp_beside(self.path, suffix=self.path.suffix or ".mp4")
        self.size = (int(size[0]), int(size[1]))
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), fps or 25.0, self.size)
        if not self._writer.isOpened():
            os.unlink(self._tmp)
            raise DataError(f"cannot write video {self.path} with codec {fourcc!r}", hint="use a .mp4 or .avi name")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            frame = cv2.resize(frame, self.size)
        self._writer.write(frame)
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        self._writer.release()
        if keep:
            os.replace(self._tmp, self.path)
        elif os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(keep=exc_type is None)
