"""The gate relay: open for a while, shut, and released when the program stops.

Two wirings, chosen in config (relay_logic), decide what the gate does when the kiosk stops or loses power:
  energize-to-open  (fail-secure) the relay is energised only to open: released, the gate is shut. For factory
                    gates and turnstiles. The relay starts released.
  energize-to-lock  (fail-safe) the relay is energised to hold the lock shut: released, the lock opens. For
                    emergency exits. The relay is energised as soon as the kiosk runs, released briefly to open.
Either way, `release()` (every exit path the program controls), a killed process and a power cut all leave the
relay released, which the wiring turns into the state the venue chose.
"""

from __future__ import annotations

import threading
from typing import Any

from gpiozero import DigitalOutputDevice


class GateRelay:
    def __init__(self, pin: str, *, active_high: bool, logic: str, pin_factory: Any = None) -> None:
        self.locks = logic == "energize-to-lock"
        self.device = DigitalOutputDevice(
            pin, active_high=active_high, initial_value=self.locks, pin_factory=pin_factory
        )
        self._relock: threading.Timer | None = None

    def open_for(self, seconds: float) -> None:
        """Open now and shut after `seconds`; a second call while open extends the opening without a gap."""
        if not self.locks:
            self.device.blink(on_time=seconds, off_time=0, n=1)
            return
        self._cancel_relock()
        self.device.off()
        self._relock = threading.Timer(seconds, self.device.on)
        self._relock.daemon = True
        self._relock.start()

    def shut(self) -> None:
        self._cancel_relock()
        self.device.on() if self.locks else self.device.off()

    def release(self) -> None:
        """De-energise (the state a power cut leaves), then free the pin."""
        self._cancel_relock()
        self.device.off()
        self.device.close()

    @property
    def is_open(self) -> bool:
        return bool(self.device.value) != self.locks

    def _cancel_relock(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None
