"""What the status page sees of the camera: the loop's frame observer, which keeps a reference to the newest frame
and where its codes were (never what they say), and the frame rate over the last seconds. O(1) on the loop."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from kiosk.camera.base import Frame, Grey
from kiosk.decode import Box
from kiosk.decode.base import Point
from kiosk.decode.chain import ChainResult

FrameObserver = Callable[[Frame, ChainResult], None]
FPS_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class Seen:
    """The newest frame and where its codes were (never what they say)."""

    image: Grey
    index: int
    captured: float
    codes: tuple[tuple[Point, ...], ...]
    unread: tuple[Box, ...]


class FrameTap:
    """A `ScanLoop.on_frame` observer for the page: O(1), keeps a reference (no copy) and a capture time."""

    def __init__(self, window: int = 1024) -> None:
        self.seen: Seen | None = None
        self._times: deque[float] = deque(maxlen=window)  # 5 s at up to 200 fps

    def __call__(self, frame: Frame, result: ChainResult) -> None:
        codes = tuple(code.corners for code in result.codes)
        self.seen = Seen(frame.image, frame.index, frame.captured, codes, tuple(result.unread))
        self._times.append(frame.captured)

    def fps(self, now: float) -> float:
        """Frames per second over the last FPS_WINDOW_S (0 when the camera has stopped)."""
        # NOTE: list(deque) runs in C under the GIL, so the loop's append cannot interleave with the copy.
        recent = [t for t in list(self._times) if now - t <= FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        return round((len(recent) - 1) / max(now - recent[0], 1e-6), 2)


def chain_observers(*observers: FrameObserver | None) -> FrameObserver | None:
    """One `ScanLoop.on_frame` calling each observer in turn (None skipped), e.g. the screen's and the page's."""
    present = [o for o in observers if o is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def each(frame: Frame, result: ChainResult) -> None:
        for observer in present:
            observer(frame, result)

    return each
