"""The reader of a stream of frames: what the gate, `kiosk scan` and the centre's photo upload all read with.

A frame alone says little about a code moving into view; a stream says more. The reader remembers where it
saw a symbol it could not read, so that the next frames look there again (with the second attempts of the
decoder chain) while the person settles the phone or card.
"""

from __future__ import annotations

from collections.abc import Sequence

from kiosk.camera.base import Grey
from kiosk.decode.base import Box
from kiosk.decode.chain import ChainResult, DecoderChain
from kiosk.decode.memory import RegionMemory

RECENT_S = 1.0  # a symbol seen but not read this recently is worth second attempts at its place


class FrameReader:
    """Reads the codes of successive frames of one camera; `read_still` for a picture on its own."""

    def __init__(self, chain: DecoderChain, *, recent_s: float = RECENT_S) -> None:
        self.chain = chain
        self.recent_s = recent_s
        self._unread: Sequence[Box] = ()  # symbols seen but not read lately (frame coordinates)
        self._unread_at = float("-inf")
        self._memory = RegionMemory()  # regions of this camera's scene that every repair failed on

    def read(self, image: Grey, at: float) -> ChainResult:
        """The codes of the frame captured at `at` (monotonic seconds), helped by what recent frames saw."""
        near = self._unread if at - self._unread_at < self.recent_s else ()
        result = self.chain.decode(image, near=near, memory=self._memory, at=at)
        if result.unread:
            self._unread, self._unread_at = result.unread, at
        return result

    def read_still(self, image: Grey) -> ChainResult:
        """The codes of a picture on its own (a scan, a photo): no time budget, and no memory of other frames."""
        return self.chain.decode(image, thorough=True)
