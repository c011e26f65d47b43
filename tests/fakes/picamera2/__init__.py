"""A stand-in for the picamera2 module with the calls PicameraSource makes, behaving as the real one does.

Modelled on picamera2 (request.py make_array): YUV420 comes back as a uint8 array of shape
(height * 3 / 2, stride), the Y plane in the first `height` rows, padded on the right to the stride; sizes
asked for are aligned (lores width to 64 here, as the Pi ISP needs), and the configured size is read back
from `camera_config`. Frames show a test image scrolled by one pixel per frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

instances: list[Picamera2] = []
frame_image: np.ndarray | None = None  # set by tests: the luminance the "sensor" sees
fail_after: int | None = None  # capture_array raises RuntimeError after this many frames
fail_start = False  # start() raises, as when another process holds the camera


class Picamera2:
    def __init__(self, camera_num: int = 0) -> None:
        if camera_num != 0:
            raise IndexError("list index out of range")  # what picamera2 raises for a missing camera
        self.camera_num = camera_num
        self.camera_config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.frames = 0
        instances.append(self)

    def create_video_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        controls: dict[str, Any] | None = None,
        queue: bool = True,
        **_: Any,
    ) -> dict[str, Any]:
        return {"main": dict(main or {}), "lores": dict(lores or {}), "controls": dict(controls or {}), "queue": queue}

    def configure(self, config: dict[str, Any]) -> None:
        lores = config["lores"]
        if lores.get("format") != "YUV420":
            raise RuntimeError("lores stream must be YUV420 on this platform")
        width, height = lores["size"]
        width = (width + 63) // 64 * 64
        lores["size"] = (width, height)
        lores["stride"] = (width + 127) // 128 * 128
        self.camera_config = config

    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        if fail_start:
            raise RuntimeError("Failed to start camera: Device or resource busy")
        self.started = True

    def capture_array(self, name: str = "main") -> np.ndarray:
        if not self.started:
            raise RuntimeError("Camera is not running")
        if fail_after is not None and self.frames >= fail_after:
            raise RuntimeError("Camera frontend has timed out!")
        assert self.camera_config is not None and name == "lores"
        width, height = self.camera_config["lores"]["size"]
        stride = self.camera_config["lores"]["stride"]
        out = np.full((height * 3 // 2, stride), 77, dtype=np.uint8)  # padding and chroma: not grey content
        out[:height, :width] = self._luma(width, height)
        self.frames += 1
        return out

    def _luma(self, width: int, height: int) -> np.ndarray:
        plane = np.full((height, width), 200, dtype=np.uint8)
        if frame_image is not None:
            h, w = min(height, frame_image.shape[0]), min(width, frame_image.shape[1])
            plane[:h, :w] = frame_image[:h, :w]
        return np.roll(plane, self.frames % 3, axis=1)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True
