"""What systemd sees of a running kiosk: the watchdog fed from the frame loop, and a status line every 10 s.

`tick` runs on the loop's thread after every frame processed, so a stalled loop or a frozen camera stops the
feeding and systemd restarts the service (WatchdogSec in systemd/kiosk.service).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from typing import Any, Protocol

from kiosk.ops.notify import Notifier

log = logging.getLogger(__name__)
STATUS_EVERY_S = 10.0
LOW_DISK_MB = 100  # a day of a busy gate is a few MB: this is days of warning before the store is full
WARN_EVERY_S = 600.0


class Backlog(Protocol):
    def status(self, recent: int = 10) -> Any: ...


class Supervisor:
    """`tick` is the loop's `on_tick`: it reads the loop's and sync's records (`kiosk`, a KioskView) and counts the
    backlog on the loop's own connection (`store`), since it runs on the loop's thread."""

    def __init__(
        self, notifier: Notifier, kiosk: Any, store: Backlog, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.notifier = notifier
        self.kiosk = kiosk
        self.store = store
        self._clock = clock
        self._last = clock()
        self._frames = 0
        self._warned = float("-inf")

    def tick(self) -> None:
        self.notifier.watchdog()
        now = self._clock()
        if now - self._last >= STATUS_EVERY_S:
            self.notifier.status(self.status_line(now))

    def status_line(self, now: float) -> str:
        """e.g. "14.9 fps, 12 decisions, backlog 0, synced 4 s ago, clock synchronised" (no personal data)."""
        copy = self.kiosk.metrics.copy()  # the loop's record
        fps = (copy.frames - self._frames) / max(now - self._last, 1e-6)
        self._frames, self._last = copy.frames, now
        backlog = self.store.status(0).unsent  # the loop's own connection: tick runs on its thread
        clock = "clock synchronised" if self.kiosk.clock.synchronised() else "clock NOT synchronised"
        decisions = sum(copy.decisions.values())
        line = f"{fps:.1f} fps, {decisions} decisions, backlog {backlog}, {self._sync(now)}, {clock}"
        return line + self._store(now, copy.store_fault)

    def _store(self, now: float, fault: str | None) -> str:
        """A store that cannot record, or a disk filling up: said in the status line, and in the log every 10
        minutes while it lasts (the heartbeat carries both to the centre)."""
        if fault is not None:
            return f", STORE NOT RECORDING, gate kept shut ({fault[-80:]})"
        try:
            free_mb = shutil.disk_usage(self.kiosk.config.state_dir).free // 2**20
        except OSError:
            return ""
        if free_mb >= LOW_DISK_MB:
            return ""
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning(
                "only %d MB free for the event store in %s: the gate stays shut once it is full; free space"
                " (old logs, `journalctl --vacuum-size`) or check that sync is uploading",
                free_mb,
                self.kiosk.config.state_dir,
            )
        return f", DISK LOW ({free_mb} MB free)"

    def _sync(self, now: float) -> str:
        published = self.kiosk.sync_status  # sync's record
        if published is None:
            return "not enrolled"
        stats = published.current
        if stats.revoked:
            return "device REVOKED by the server"
        if stats.last_success is None:
            return "never synced" + (f" ({stats.last_error[:60]})" if stats.last_error else "")
        return f"synced {now - stats.last_success:.0f} s ago"
