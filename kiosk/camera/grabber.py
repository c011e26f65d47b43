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
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.source = source
        self.stats = GrabberStats()
        self._lockstep = lockstep
        self._reopen_s = reopen_s
        self._stop_timeout_s = stop_timeout_s
        self._clock = clock
        self._slot: Frame | None = None
        self._ended = False
        self._woken = False
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        """Open the source (errors surface here, in the caller's thread) and start capturing."""
        self.source.open()
        self._thread.start()

    def stop(self) -> None:
        """Stop capturing; the capture thread closes the source when it leaves its read (waited for a while).

        The source is never closed under a read in progress: releasing a V4L2 or libcamera device from another
        thread while it is being read can crash the process before the relay and the database are closed.
        """
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if not self._thread.is_alive():
            if self._thread.ident is None:  # never started: nobody else will close it
                self.source.close()
            return
        self._thread.join(timeout=self._stop_timeout_s)
        if self._thread.is_alive():
            log.error("%s: still blocked in a read; closing it is left to the process exit", self.source.name)

    def next(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to `timeout` seconds (or until `wake`); None if none."""
        with self._cond:
            if self._slot is None and not self._ended and not self._woken:
                self._cond.wait(timeout)
            self._woken = False
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    def wake(self) -> None:
        """End the loop's wait for a frame now: a scanner has handed it a code (thread-safe)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    @property
    def live(self) -> bool:
        return self.source.live

    @property
    def exhausted(self) -> bool:
        """A replay has ended and its last frame has been taken."""
        with self._cond:
            return self._ended and self._slot is None

    def _run(self) -> None:
        try:
            self._capture()
        except Exception:  # ends capture; the loop sees `exhausted` and a live kiosk exits to be restarted
            log.exception("capture thread failed")
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            self._close_source()

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.exception("%s: closing failed", self.source.name)

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
        except Exception as exc:  # a live camera fails in many ways (cv2.error, driver errors): reopen on all
            self.stats.failures += 1
            if not self.source.live:
                log.error("%s: %s; replay ends", self.source.name, exc)
                return None
            log.error("%s: %s; reopening in %.1f s", self.source.name, exc, self._reopen_s)
            self._reopen()
            return None

    def _reopen(self) -> None:
        self._close_source()
        while not self._stop.wait(self._reopen_s):
            try:
                self.source.open()
                log.info("%s: reopened", self.source.name)
                return
            except Exception as exc:
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
