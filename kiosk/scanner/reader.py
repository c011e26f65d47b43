"""The thread every scanner runs in: open the device, hand over whole codes, and wait for it to come back.

A scanner module is plugged into a USB port a guard can reach, so it gets unplugged; a serial adapter resets
when the supply dips. Neither may stop the kiosk: the thread says so once, waits `reopen_s`, and opens the
device again, for as long as the kiosk runs. A code cut short by the unplugging ends as an incomplete scan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kiosk.logs import Throttle
from kiosk.scanner.framing import Framer, Scan

log = logging.getLogger(__name__)

ScanSink = Callable[[Scan], None]
"""Where whole codes go (the loop's queue, which also wakes it): must not block."""


class Port(Protocol):
    """An opened scanner device: reads what has arrived, waiting at most `timeout` seconds."""

    def receive(self, timeout: float) -> bytes:
        """The bytes typed or sent since the last call (b"" if none came in time); OSError when the device
        is gone."""
        ...

    def close(self) -> None: ...


@dataclass
class ScannerStats:
    """What the status page and the heartbeat say about one scanner."""

    connected: bool = False
    scans: int = 0
    refused: int = 0
    disconnects: int = 0
    last_error: str = ""


class ScannerThread:
    """Runs one scanner: `opener` opens its device as a `Port`; every whole code goes to `sink`."""

    def __init__(
        self,
        name: str,
        opener: Callable[[], Port],
        framer: Framer,
        sink: ScanSink,
        *,
        reopen_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.opener = opener
        self.framer = framer
        self.sink = sink
        self.reopen_s = reopen_s
        self.clock = clock
        self.stats = ScannerStats()
        self._stop = threading.Event()
        self._throttle = Throttle(log, every_s=60.0)
        self._thread = threading.Thread(target=self._run, name=f"scanner {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(self.reopen_s)
                continue
            try:
                self._read(port)
            except Exception as exc:  # unplugged (ENODEV, EIO), or a driver error: reopen, never end the thread
                self._lost(exc)
            finally:
                self.stats.connected = False
                _close(port)
            if not self._stop.is_set():
                self._stop.wait(self.reopen_s)

    def _open(self) -> Port | None:
        try:
            port = self.opener()
        except Exception as exc:
            self.stats.last_error = _describe(exc)
            self._throttle.warning("open", "%s: cannot open the scanner: %s; trying again", self.name, exc)
            return None
        self.stats.connected = True
        log.info("%s: scanner ready", self.name)
        return port

    def _read(self, port: Port) -> None:
        while not self._stop.is_set():
            deadline = self.framer.deadline()
            wait = 0.2 if deadline is None else max(0.0, min(0.2, deadline - self.clock()))
            data = port.receive(wait)
            now = self.clock()
            for scan in self.framer.feed(data, now) if data else _one(self.framer.expire(now)):
                self._hand(scan)

    def _lost(self, exc: Exception) -> None:
        self.stats.disconnects += 1
        self.stats.last_error = _describe(exc)
        log.warning("%s: scanner lost (%s); waiting for it to come back", self.name, _describe(exc))
        cut = self.framer.flush(self.clock())
        if cut is not None:
            self._hand(cut)

    def _hand(self, scan: Scan) -> None:
        self.stats.scans += 1
        if scan.problem is not None:
            self.stats.refused += 1
            self._throttle.warning(scan.problem, "%s: code refused: %s", self.name, scan.problem)
        self.sink(scan)


def _one(scan: Scan | None) -> list[Scan]:
    return [] if scan is None else [scan]


def _close(port: Port) -> None:
    try:
        port.close()
    except Exception:  # a device already gone cannot be closed cleanly; its descriptor is released all the same
        log.debug("closing a scanner that is gone failed", exc_info=True)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
