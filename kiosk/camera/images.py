"""Reading still images and recognising media files by name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from kiosk.camera.base import Grey

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".pgm", ".ppm"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mjpeg", ".mjpg", ".h264"})


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def load_grey(path: Path) -> Grey | None:
    """The image at `path` in grey, or None if it cannot be read as an image.

    OpenCV reads most files; Pillow reads what it refuses (tiny WebP files, some GIFs).
    """
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is not None:
        return cast(Grey, image)
    try:
        with Image.open(path) as pil:
            return np.asarray(pil.convert("L"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def images_in(folder: Path) -> list[Path]:
    """Image files directly in `folder`, in natural order (2.png before 10.png)."""
    found = [p for p in folder.iterdir() if p.is_file() and is_image(p)]
    return sorted(found, key=_natural_key)


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
