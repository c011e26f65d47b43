"""What systemd sees of a running kiosk: the watchdog fed from the frame loop, and a status line every 10 s.

`tick` runs on the loop's thread after every frame processed, so a stalled loop or a frozen camera stops the
feeding and systemd restarts the service (WatchdogSec in systemd/kiosk.service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kiosk.notify import Notifier

STATUS_EVERY_S = 10.0


class Supervisor:
    def __init__(self, notifier: Notifier, kiosk: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.notifier = notifier
        self.kiosk = kiosk
        self._clock = clock
        self._last = clock()
        self._frames = 0

    def tick(self) -> None:
        self.notifier.watchdog()
        now = self._clock()
        if now - self._last >= STATUS_EVERY_S:
            self.notifier.status(self.status_line(now))

    def status_line(self, now: float) -> str:
        """e.g. "14.9 fps, 12 decisions, backlog 0, synced 4 s ago, clock synchronised" (no personal data)."""
        metrics = self.kiosk.metrics
        fps = (metrics.frames - self._frames) / max(now - self._last, 1e-6)
        self._frames, self._last = metrics.frames, now
        backlog = self.kiosk.loop.store.status(0).unsent  # the loop's own connection: tick runs on its thread
        clock = "clock synchronised" if self.kiosk.clock.synchronised() else "clock NOT synchronised"
        decisions = sum(metrics.decisions.values())
        return f"{fps:.1f} fps, {decisions} decisions, backlog {backlog}, {self._sync(now)}, {clock}"

    def _sync(self, now: float) -> str:
        sync = self.kiosk.sync
        if sync is None:
            return "not enrolled"
        stats = sync.stats
        if stats.revoked:
            return "device REVOKED by the server"
        if stats.last_success is None:
            return "never synced" + (f" ({stats.last_error[:60]})" if stats.last_error else "")
        return f"synced {now - stats.last_success:.0f} s ago"
