"""Live cameras through OpenCV's VideoCapture: a USB camera by index or /dev/videoN, or an RTSP/HTTP stream."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import cv2

from kiosk.camera.base import Grey
from kiosk.camera.files import to_grey
from kiosk.errors import SourceError


class OpenCVSource:
    """A V4L2 device or a network stream. Reading errors raise SourceError, so the grabber reopens it."""

    live = True
    pace_fps = None  # the device paces itself

    def __init__(self, spec: str, *, width: int = 640, height: int = 480, fps: float = 15.0) -> None:
        self.spec = spec
        self.width = width
        self.height = height
        self.fps = fps
        self._capture: cv2.VideoCapture | None = None

    @property
    def name(self) -> str:
        return f"camera {redact_url(self.spec)}"

    def open(self) -> None:
        capture = self._make_capture()
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"{self.name}: cannot open (is it plugged in, and is this user in group video?)")
        if self._is_device:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the newest frame, not a queue of old ones
        self._capture = capture

    def read(self) -> Grey | None:
        if self._capture is None:
            raise SourceError(f"{self.name}: read before open")
        ok, image = self._capture.read()
        if not ok or image is None:
            raise SourceError(f"{self.name}: no frame (device unplugged or stream interrupted)")
        return to_grey(image)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    @property
    def _is_device(self) -> bool:
        return self.spec.isdigit() or self.spec.startswith("/dev/")

    def _make_capture(self) -> cv2.VideoCapture:
        if self.spec.isdigit():
            return cv2.VideoCapture(int(self.spec), cv2.CAP_V4L2)
        if self.spec.startswith("/dev/"):
            return cv2.VideoCapture(self.spec, cv2.CAP_V4L2)
        return cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG)


def redact_url(spec: str) -> str:
    """`spec` with any password in a URL replaced, for logs (rtsp://user:secret@host -> rtsp://user:***@host)."""
    if not re.match(r"^[a-z]+://", spec):
        return spec
    parts = urlsplit(spec)
    if parts.password is None:
        return spec
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
