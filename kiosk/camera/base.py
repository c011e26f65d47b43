"""The frame source seam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]
"""A 2-D greyscale image (height x width, uint8): what every decoder reads."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One image handed from the capture thread to the loop."""

    image: Grey
    index: int  # frames read from the source since it was opened, starting at 0
    captured: float  # monotonic seconds at which the frame became available


class FrameSource(Protocol):
    """A camera or a replay. `read` blocks until the next image; replays return None when exhausted."""

    @property
    def name(self) -> str:
        """What to call this source in logs and messages (no credentials from a URL)."""
        ...

    @property
    def live(self) -> bool:
        """True for a camera (reopened after a failure), False for a replay (ends)."""
        ...

    @property
    def pace_fps(self) -> float | None:
        """Replays: the rate to hand frames over at (None: as fast as the loop takes them)."""
        ...

    def open(self) -> None:
        """Acquire the device or file; raises SourceError with what to check."""
        ...

    def read(self) -> Grey | None:
        """The next frame in grey; None at the end of a replay; SourceError when the device fails."""
        ...

    def close(self) -> None:
        """Release the device; safe to call twice."""
        ...
