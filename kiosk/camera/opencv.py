"""Live cameras through OpenCV's VideoCapture: a USB camera by index or /dev/videoN, or an RTSP/HTTP stream."""

from __future__ import annotations

import logging
import os

import cv2

from kiosk.camera.base import Grey
from kiosk.camera.files import to_grey
from kiosk.errors import SourceError
from kiosk.redact import redact_url

log = logging.getLogger(__name__)

_OPEN_TIMEOUT_MS = 5000
_READ_TIMEOUT_MS = 3000


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
            # NOTE: USB 2 cameras deliver 720p only as MJPG; in YUYV they fall to a few fps. A camera without
            # MJPG ignores the request.
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            capture.set(cv2.CAP_PROP_FPS, self.fps)
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # V4L2: keep the newest frame, not a queue of old ones
        width, height = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        log.info("%s: %dx%d at %.0f fps", self.name, width, height, capture.get(cv2.CAP_PROP_FPS))
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
        # NOTE: RTSP over UDP smears frames on packet loss; TCP is what IP-camera vendors recommend. An
        # OPENCV_FFMPEG_CAPTURE_OPTIONS set by the operator wins. Without timeouts, FFmpeg blocks ~30 s on a
        # dead stream; these make a lost camera a SourceError (and a reopen) within seconds.
        os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, _READ_TIMEOUT_MS]
        return cv2.VideoCapture(self.spec, cv2.CAP_FFMPEG, timeouts)
