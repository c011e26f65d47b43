"""Lights, buzzer and gate relay on GPIO through gpiozero.

Every device takes the pin factory as a seam: lgpio on a Pi 5, MockFactory in tests and the demo. Patterns
run in gpiozero's background threads, so `signal` returns in well under a millisecond.

The relay is created released (`initial_value=False`) and released again on close. What the gate does when
this process dies is decided by the wiring (see README): a released relay must mean a shut gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Buzzer, DigitalOutputDevice

from kiosk.events import Event


@dataclass(frozen=True)
class GpioPins:
    green_led: str | None = "GPIO22"
    red_led: str | None = "GPIO27"
    buzzer: str | None = "GPIO18"
    relay: str | None = "GPIO17"
    relay_active_high: bool = True
    relay_hold_s: float = 3.0
    light_s: float = 1.5


class GpioFeedback:
    """ACCEPT: green light, one short beep, relay pulse. DENY: red light, three beeps. REVIEW: both lights."""

    def __init__(self, pins: GpioPins, *, pin_factory: Any = None) -> None:
        self.pins = pins
        self.green = LED(pins.green_led, pin_factory=pin_factory) if pins.green_led else None
        self.red = LED(pins.red_led, pin_factory=pin_factory) if pins.red_led else None
        self.buzzer = Buzzer(pins.buzzer, pin_factory=pin_factory) if pins.buzzer else None
        self.relay = (
            DigitalOutputDevice(
                pins.relay, active_high=pins.relay_active_high, initial_value=False, pin_factory=pin_factory
            )
            if pins.relay
            else None
        )

    def signal(self, event: Event) -> None:
        light = self.pins.light_s
        if event.decision == "ACCEPT":
            if self.relay is not None:
                self.relay.blink(on_time=self.pins.relay_hold_s, off_time=0, n=1)
            self._off(self.red)
            self._light(self.green, light)
            self._beep(0.1, 0.1, 1)
            return
        # Anything but ACCEPT shuts a gate still held open for the person before: the refused person must not
        # walk through on someone else's pulse.
        self._off(self.relay)
        if event.decision == "DENY":
            self._off(self.green)
            self._light(self.red, light)
            self._beep(0.1, 0.1, 3)
        else:
            self._light(self.green, light)
            self._light(self.red, light)
            self._beep(0.3, 0.2, 2)

    def fault(self, reason: str) -> None:
        if self.relay is not None:
            self.relay.off()
        if self.red is not None:
            self.red.blink(on_time=0.1, off_time=0.1, n=10)
        self._beep(1.0, 0.1, 1)

    def close(self) -> None:
        for device in (self.relay, self.green, self.red, self.buzzer):
            if device is not None:
                device.off()
                device.close()

    def _off(self, device: DigitalOutputDevice | None) -> None:
        if device is not None:
            device.off()

    def _light(self, led: LED | None, seconds: float) -> None:
        if led is not None:
            led.blink(on_time=seconds, off_time=0, n=1)

    def _beep(self, on: float, off: float, n: int) -> None:
        if self.buzzer is not None:
            self.buzzer.beep(on_time=on, off_time=off, n=n)
