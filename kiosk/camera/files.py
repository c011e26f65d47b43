"""Replay sources: an image folder or a video file, handed over at a set frame rate, optionally looping."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import cv2
import numpy.typing as npt

from kiosk.camera.base import Grey
from kiosk.camera.images import images_in, load_grey
from kiosk.errors import SourceError

log = logging.getLogger(__name__)


class ImageFolderSource:
    """Every image of a folder in natural order, as frames."""

    live = False

    def __init__(self, folder: Path, *, fps: float | None = 15.0, loop: bool = False) -> None:
        self.folder = folder
        self.pace_fps = fps
        self.loop = loop
        self._files: list[Path] = []
        self._next = 0

    @property
    def name(self) -> str:
        return f"folder {self.folder}"

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        self._files = images_in(self.folder)
        if not self._files:
            raise SourceError(f"{self.folder}: no image files (png, jpg, webp, ...) in this folder")
        self._next = 0

    def read(self) -> Grey | None:
        for _ in range(len(self._files) + 1):
            if self._next >= len(self._files):
                if not self.loop:
                    return None
                self._next = 0
            path = self._files[self._next]
            self._next += 1
            image = load_grey(path)
            if image is not None:
                return image
            log.warning("%s: not a readable image; skipped", path)
        raise SourceError(f"{self.folder}: none of the images can be read")

    def close(self) -> None:
        self._files = []


class VideoFileSource:
    """The frames of a video file (anything OpenCV's FFmpeg reads)."""

    live = False

    def __init__(self, path: Path, *, fps: float | None = None, loop: bool = False) -> None:
        self.path = path
        self.fps = fps
        self.loop = loop
        self._capture: cv2.VideoCapture | None = None
        self._file_fps: float | None = None

    @property
    def name(self) -> str:
        return f"video {self.path}"

    @property
    def pace_fps(self) -> float | None:
        return self.fps or self._file_fps

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file")
        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.path}: OpenCV cannot open this video (codec or container not supported)")
        file_fps = capture.get(cv2.CAP_PROP_FPS)
        self._file_fps = file_fps if 0 < file_fps <= 240 else None
        self._capture = capture

    def read(self) -> Grey | None:
        if self._capture is None:
            raise SourceError(f"{self.path}: read before open")
        ok, image = self._capture.read()
        if not ok and self.loop:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._capture.read()
        if not ok:
            return None
        return to_grey(image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def to_grey(image: npt.NDArray[Any]) -> Grey:
    """A frame from OpenCV (BGR, BGRA or already grey) in grey."""
    if image.ndim == 2:
        return cast(Grey, image)
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cast(Grey, cv2.cvtColor(image, code))
