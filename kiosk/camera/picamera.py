"""The Raspberry Pi camera through picamera2, decoding the Y plane of a low-resolution YUV420 stream.

picamera2 comes from Raspberry Pi OS (python3-picamera2) and is imported only when this source opens, so the
rest of the kiosk runs where it is absent. The main stream exists because libcamera requires one; the decoder
only reads the lores stream, whose luminance plane is already the grey image it needs (no colour conversion).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from kiosk.camera.base import Grey
from kiosk.errors import SourceError


class PicameraSource:
    """A CSI camera module (v2, v3, HQ, ...) on a Raspberry Pi."""

    live = True
    pace_fps = None  # FrameDurationLimits paces the sensor

    def __init__(self, *, width: int = 640, height: int = 480, fps: float = 15.0, camera_num: int = 0) -> None:
        self.width = width
        self.height = height
        self.fps = fps
        self.camera_num = camera_num
        self._camera: Any = None
        self._size = (width, height)

    @property
    def name(self) -> str:
        return f"picamera2 camera {self.camera_num}"

    def open(self) -> None:
        module = _import_picamera2()
        try:
            camera = module.Picamera2(self.camera_num)
        except Exception as exc:
            raise SourceError(f"{self.name}: not found: {exc} (is the ribbon cable seated?)") from None
        try:
            camera.configure(self._configuration(camera))
            camera.start()
        except Exception as exc:
            camera.close()  # else the device stays busy and every reopen fails
            raise SourceError(f"{self.name}: cannot start: {exc}") from None
        # NOTE: picamera2 may align the lores size it was asked for; read back what it configured.
        self._size = tuple(camera.camera_config["lores"]["size"])
        self._camera = camera

    def _configuration(self, camera: Any) -> Any:
        frame_us = round(1_000_000 / self.fps)
        size = (self.width, self.height)
        return camera.create_video_configuration(
            main={"size": size},
            lores={"size": size, "format": "YUV420"},
            controls={"FrameDurationLimits": (frame_us, frame_us)},
            queue=False,  # wait for a fresh frame rather than return one already queued
        )

    def read(self) -> Grey | None:
        if self._camera is None:
            raise SourceError(f"{self.name}: read before open")
        try:
            yuv = self._camera.capture_array("lores")
        except (RuntimeError, OSError) as exc:
            raise SourceError(f"{self.name}: capture failed: {exc}") from exc
        # NOTE: picamera2 returns YUV420 as a (height * 3 / 2, stride) array; the first `height` rows are Y,
        # possibly padded to the stride on the right (picamera2 request.py, make_array).
        width, height = self._size
        return np.ascontiguousarray(yuv[:height, :width])

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is None:
            return
        try:
            camera.stop()
        finally:
            camera.close()


def _import_picamera2() -> Any:
    try:
        return importlib.import_module("picamera2")
    except ImportError as exc:
        raise SourceError(
            "picamera2 is not installed: on Raspberry Pi OS run `apt install python3-picamera2` and create the "
            "venv with --system-site-packages (scripts/provision-pi.sh does both)"
        ) from exc
    except Exception as exc:
        # NOTE: picamera2 and simplejpeg from Raspberry Pi OS are built against its numpy 1.x; a numpy 2 in the
        # venv makes their import fail with "numpy.dtype size changed" (raspberrypi/picamera2 #1088).
        raise SourceError(
            f"picamera2 cannot be imported ({type(exc).__name__}: {exc}); if this mentions numpy, the venv's numpy "
            "does not match the one Raspberry Pi OS built picamera2 against: use the system numpy"
        ) from exc
