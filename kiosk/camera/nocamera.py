"""No camera: the source of a gate whose codes all come from scanner modules (camera.source = "none").

It never delivers a frame and never fails, so the capture thread idles on it; the loop, told that there is no
camera, does not call a fault for the frames that never come.
"""

from __future__ import annotations

import threading

from kiosk.camera.base import Grey


class NoCamera:
    name = "no camera"
    live = True
    pace_fps = None

    def __init__(self) -> None:
        self._closed = threading.Event()

    def open(self) -> None:
        self._closed.clear()

    def read(self) -> Grey | None:
        self._closed.wait(0.5)  # nothing ever comes: the capture thread waits here, and leaves when closed
        return None

    def close(self) -> None:
        self._closed.set()
