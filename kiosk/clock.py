"""Time as the kiosk sees it: wall clock, monotonic clock, the boot it belongs to, and whether it is trustworthy.

A Raspberry Pi has no real-time clock: until NTP has synchronised, the wall clock may read 1970 or the time of
the last shutdown. Every event therefore also carries the monotonic time and the boot id, and a flag saying
whether the wall clock was synchronised when the event was made.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_TIME_ERROR = 5  # adjtimex() return value while the kernel clock is unsynchronised (STA_UNSYNC)
_EARLIEST_PLAUSIBLE = 1_700_000_000.0  # 2023-11: a wall clock before this was never set on this boot


class Clock(Protocol):
    """The clock seam: real in production, fake in tests."""

    @property
    def boot_id(self) -> str: ...

    def wall(self) -> float:
        """Seconds since the epoch (may be wrong until synchronised)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps, counted from an arbitrary start within this boot."""
        ...

    def synchronised(self) -> bool:
        """True when the wall clock is known to be synchronised (NTP or similar)."""
        ...


class SystemClock:
    """The host's clocks; synchronisation read from the kernel with adjtimex(2), cached for a few seconds."""

    def __init__(self, recheck_s: float = 5.0) -> None:
        self._boot_id = read_boot_id()
        self._recheck_s = recheck_s
        self._checked_at = float("-inf")
        self._synced = False
        self._lock = threading.Lock()
        self._adjtimex = _load_adjtimex()

    @property
    def boot_id(self) -> str:
        return self._boot_id

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def synchronised(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at >= self._recheck_s:
                self._synced = self._kernel_synced() and time.time() > _EARLIEST_PLAUSIBLE
                self._checked_at = now
            return self._synced

    def _kernel_synced(self) -> bool:
        if self._adjtimex is None:
            return False
        buf = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes=0 only reads
        state = int(self._adjtimex(buf))
        return state not in (-1, _TIME_ERROR)


def _load_adjtimex() -> Callable[[Any], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    func: Callable[[Any], int] | None = getattr(ctypes.CDLL(name, use_errno=True), "adjtimex", None)
    return func


def read_boot_id() -> str:
    """The kernel's id of this boot; a random one (fixed for this process) where the kernel has none."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return _PROCESS_BOOT_ID


_PROCESS_BOOT_ID = str(uuid.uuid4())


class FakeClock:
    """A clock for tests: time moves only when told to."""

    def __init__(self, wall: float = 1_750_000_000.0, *, synced: bool = True, boot_id: str = "boot-0") -> None:
        self._wall = wall
        self._mono = 1000.0
        self._synced = synced
        self._boot_id = boot_id

    @property
    def boot_id(self) -> str:
        return self._boot_id

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def synchronised(self) -> bool:
        return self._synced

    def advance(self, seconds: float) -> None:
        """Move both clocks forward."""
        self._wall += seconds
        self._mono += seconds

    def set_wall(self, wall: float, *, synced: bool | None = None) -> None:
        """Jump the wall clock (as NTP or a user would); the monotonic clock does not move."""
        self._wall = wall
        if synced is not None:
            self._synced = synced
