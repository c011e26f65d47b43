"""The capture thread: reads a source as fast as it delivers and keeps only the newest frame for the loop.

A camera does not wait for the decoder. If the loop has not taken the previous frame when a new one arrives,
the old one is dropped and counted, so the loop always works on the freshest image and never falls behind.
For tests and benchmarks that must see every frame, `lockstep=True` makes the capture wait for the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.camera.base import Frame, FrameSource, Grey
from kiosk.errors import SourceError

log = logging.getLogger(__name__)


@dataclass
class GrabberStats:
    """Counters of the capture thread (read by the loop for its summary and heartbeat)."""

    captured: int = 0
    dropped: int = 0
    failures: int = 0


class FrameGrabber:
    """Runs a FrameSource in its own thread and hands over the newest frame."""

    def __init__(
        self,
        source: FrameSource,
        *,
        lockstep: bool = False,
        reopen_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.stats = GrabberStats()
        self._lockstep = lockstep
        self._reopen_s = reopen_s
        self._clock = clock
        self._slot: Frame | None = None
        self._ended = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        """Open the source (errors surface here, in the caller's thread) and start capturing."""
        self.source.open()
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing and close the source; waits for the thread."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.source.close()

    def next(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to `timeout` seconds; None if there is none."""
        with self._cond:
            if self._slot is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    @property
    def exhausted(self) -> bool:
        """A replay has ended and its last frame has been taken."""
        with self._cond:
            return self._ended and self._slot is None

    def _run(self) -> None:
        try:
            self._capture()
        except Exception:  # a bug here must end the replay, not hang the loop waiting for frames
            log.exception("capture thread failed")
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _capture(self) -> None:
        pace = self.source.pace_fps
        due = self._clock()
        index = 0
        while not self._stop.is_set():
            image = self._read()
            if image is None:
                if self.source.live:
                    continue  # failed and reopened (or stopping): try again
                return
            self._put(Frame(image, index, self._clock()))
            index += 1
            if pace:
                due = max(due + 1.0 / pace, self._clock())  # late frames are not made up in a burst
                self._stop.wait(max(0.0, due - self._clock()))

    def _read(self) -> Grey | None:
        try:
            return self.source.read()
        except SourceError as exc:
            self.stats.failures += 1
            if not self.source.live:
                log.error("%s: %s; replay ends", self.source.name, exc)
                return None
            log.error("%s: %s; reopening in %.1f s", self.source.name, exc, self._reopen_s)
            self._reopen()
            return None

    def _reopen(self) -> None:
        self.source.close()
        while not self._stop.wait(self._reopen_s):
            try:
                self.source.open()
                log.info("%s: reopened", self.source.name)
                return
            except SourceError as exc:
                self.stats.failures += 1
                log.error("%s: still failing: %s", self.source.name, exc)

    def _put(self, frame: Frame) -> None:
        with self._cond:
            while self._lockstep and self._slot is not None and not self._stop.is_set():
                self._cond.wait(0.1)
            if self._slot is not None:
                self.stats.dropped += 1
            self._slot = frame
            self.stats.captured += 1
            self._cond.notify_all()
