"""What the demo shows: a line per decision, and on a terminal a live line with the mock GPIO outputs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TextIO

from kiosk.camera import FrameGrabber
from kiosk.events import Event
from kiosk.hardware.gpio import GpioFeedback

_ON, _OFF = "●", "·"


class DemoDisplay:
    """A Feedback that writes to the terminal; it reads the GPIO devices' states, as a technician's meter would."""

    def __init__(self, gpio: GpioFeedback, out: TextIO) -> None:
        self.gpio = gpio
        self.out = out
        self.live = out.isatty()
        self.counts: Counter[str] = Counter()
        self.decisions: list[tuple[str, str | None, str]] = []  # (kind, subject key, "DECISION reason"), in order
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._frames = 0

    def signal(self, event: Event) -> None:
        self.counts[event.decision] += 1
        self.decisions.append((event.kind, event.subject_key, f"{event.decision} {event.reason}"))
        subject = f"subject {event.subject_key[:8]}…" if event.subject_key else "no identity"
        line = (
            f"  {time.monotonic() - self._started:6.1f} s  {event.decision:<6} {event.reason:<16} "
            f"{event.kind:<8} {subject:<18} {event.latency_ms:5.1f} ms  {self._outputs()}"
        )
        self._write(line, newline=True)

    def fault(self, reason: str) -> None:
        self._write(f"  FAULT {reason}: gate kept shut", newline=True)

    def close(self) -> None:
        pass

    def stop(self) -> None:
        self._stop.set()
        if self.live:
            self._write("", newline=False)

    def tick_until(self, grabber: FrameGrabber) -> None:
        """Refresh the live line ten times a second until stopped (only on a terminal)."""
        while self.live and not self._stop.wait(0.1):
            tally = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "no decision yet"
            self._write(f"  frame {grabber.stats.captured:4d}  {self._outputs()}  {tally}", newline=False)

    def _outputs(self) -> str:
        gpio = self.gpio

        def mark(device: object) -> str:
            return _ON if device is not None and getattr(device, "value", False) else _OFF

        relay = "OPEN" if gpio.relay is not None and gpio.relay.value else "shut"
        return f"[green {mark(gpio.green)} red {mark(gpio.red)} buzzer {mark(gpio.buzzer)} gate {relay}]"

    def _write(self, text: str, *, newline: bool) -> None:
        with self._lock:
            if self.live:
                self.out.write("\r\033[K" + text + ("\n" if newline else ""))
            elif newline:
                self.out.write(text + "\n")
            self.out.flush()
