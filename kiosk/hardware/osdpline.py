"""The serial line under libosdp: a pyserial port that survives being lost.

libosdp calls `read`, `write` and `flush` from its refresh thread and cannot handle a Python exception there (the
C callback would see a failed call with the error still set). So nothing here raises: a serial error (a USB
adapter pulled out, an I/O error on the UART) is counted, the port is closed, and the next `read` reopens it once
the backoff has passed (0.2 s, doubling to 5 s, back to 0.2 s after a good open). Meanwhile reads return nothing
and writes report failure, which libosdp treats as a lost packet: the panel sees a silent reader, as on a cut
line, and takes it back when it answers again.

A port that does not exist at start is handled the same way (a USB adapter may enumerate after the kiosk). Use a
stable name (/dev/serial/by-id/... for a USB adapter, /dev/serial0 for the Pi's UART) so a reopen finds the same
line.

pyserial is imported when a port is first opened (it belongs to the `readers` extra).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

REOPEN_MIN_S = 0.2
REOPEN_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class LineStats:
    errors: int  # serial errors seen (each closes the port)
    opens: int  # successful opens, the first included
    connected: bool  # the port is open now


def _pyserial(port: str, baud: int) -> Any:
    import serial

    # timeout=0: reads return at once with what is there; write_timeout=0: a write never blocks libosdp's thread
    return serial.Serial(port, baud, timeout=0, write_timeout=0)


class SerialChannel:
    """A libosdp channel (duck-typed: libosdp calls read, write and flush by name) over one serial port."""

    def __init__(
        self,
        port: str,
        baud: int,
        *,
        reopen_min_s: float = REOPEN_MIN_S,
        reopen_max_s: float = REOPEN_MAX_S,
        opener: Callable[[str, int], Any] = _pyserial,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port, self.baud = port, baud
        self.id = 0  # libosdp's Channel has an id; a single-drop line needs none
        self._opener, self._clock = opener, clock
        self._min, self._max = reopen_min_s, reopen_max_s
        self._backoff = reopen_min_s
        self._next_open = 0.0
        self._serial: Any = None
        self._closed = False
        self.errors = 0
        self.opens = 0

    @property
    def stats(self) -> LineStats:
        return LineStats(self.errors, self.opens, self._serial is not None)

    def open(self) -> bool:
        """Tries to open the port now; True if it is open."""
        if self._closed:
            return False
        if self._serial is not None:
            return True
        try:
            self._serial = self._opener(self.port, self.baud)
        except Exception as exc:  # SerialException, OSError (no such device, permission), ImportError
            self._failed("cannot open", exc)
            return False
        self.opens += 1
        self._backoff = self._min
        if self.opens > 1:
            log.info("OSDP: serial port %s reopened", self.port)
        return True

    def read(self, max_bytes: int) -> bytes:
        port = self._serial
        if port is None:
            if self._closed or self._clock() < self._next_open or not self.open():
                return b""
            port = self._serial
        try:
            return bytes(port.read(max_bytes))
        except Exception as exc:
            self._lost("read", exc)
            return b""

    def write(self, buf: bytes) -> int:
        port = self._serial
        if port is None:
            return -1
        try:
            return int(port.write(buf) or 0)
        except Exception as exc:
            self._lost("write", exc)
            return -1

    def flush(self) -> None:
        port = self._serial
        if port is None:
            return
        try:
            port.reset_input_buffer()
        except Exception as exc:
            self._lost("flush", exc)

    def close(self) -> None:
        self._closed = True
        self._drop()

    def _lost(self, what: str, exc: Exception) -> None:
        self._drop()
        self._failed(f"{what} failed", exc)

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        self._next_open = self._clock() + self._backoff
        # the first failure of a series is a warning, the retries are quiet (a pulled adapter would fill the log)
        level = logging.WARNING if self._backoff == self._min else logging.DEBUG
        log.log(level, "OSDP: serial port %s %s (%s); retrying in %.2f s", self.port, what, exc, self._backoff)
        self._backoff = min(self._backoff * 2, self._max)

    def _drop(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except Exception as exc:
                log.debug("OSDP: closing %s: %s", self.port, type(exc).__name__)
