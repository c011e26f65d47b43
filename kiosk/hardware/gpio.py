"""Lights, buzzer and gate relay on GPIO through gpiozero.

Every device takes the pin factory as a seam: lgpio on a Pi 5, MockFactory in tests and the demo. Patterns run
in gpiozero's background threads (or ours, for tone sequences), so `signal` returns in well under a millisecond.

Each decision has its own pattern, told apart by light and by ear:
  ACCEPT  green (RGB: green), one short beep (tonal: a rising pair), the gate opens for relay_hold_s
  DENY    red, three short beeps (tonal: one low tone), the gate is shut at once
  REVIEW  both lights (RGB: amber), two long beeps (tonal: two middle tones), the gate is shut
  fault   red blinking, one long beep (tonal: a falling pair), the gate is shut. The blinking tells the
          technician which: ten fast blinks for the camera or the loop, three slow ones when the event store cannot
          record (a full disk) or was found damaged at start
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, RGBLED, Buzzer, DigitalOutputDevice, TonalBuzzer
from gpiozero.tones import Tone

from kiosk.events import Event
from kiosk.hardware.gate import GateRelay

GREEN, RED, AMBER, OFF = (0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (1.0, 0.45, 0.0), (0.0, 0.0, 0.0)
PANEL_COLORS = {"green": GREEN, "red": RED, "amber": AMBER, "white": (1.0, 1.0, 1.0), "blue": (0.0, 0.0, 1.0)}
# Tone sequences: (note, seconds); None is a rest. Within a piezo's loud range and TonalBuzzer's default octave.
TUNES: dict[str, list[tuple[str | None, float]]] = {
    "ACCEPT": [("C5", 0.08), ("G5", 0.14)],
    "DENY": [("A4", 0.5)],
    "REVIEW": [("E5", 0.25), (None, 0.1), ("E5", 0.25)],
    "fault": [("G5", 0.3), ("C5", 0.6)],
}
# (on, off, count) of the red light: a store that cannot record is told apart from a camera that stopped.
FAULT_BLINKS = {"store": (0.6, 0.3, 3), "store-damaged": (0.6, 0.3, 3)}
FAST_BLINKS = (0.1, 0.1, 10)
BEEPS = {"ACCEPT": (0.1, 0.1, 1), "DENY": (0.1, 0.1, 3), "REVIEW": (0.3, 0.2, 2), "fault": (1.0, 0.1, 1)}


@dataclass(frozen=True)
class GpioPins:
    green_led: str | None = "GPIO22"
    red_led: str | None = "GPIO27"
    buzzer: str | None = "GPIO18"
    relay: str | None = "GPIO17"
    relay_active_high: bool = True
    relay_hold_s: float = 3.0
    light_s: float = 1.5
    blue_led: str | None = None
    buzzer_kind: str = "active"
    relay_logic: str = "energize-to-open"


class GpioFeedback:
    """The GPIO outputs of one gate."""

    def __init__(self, pins: GpioPins, *, pin_factory: Any = None) -> None:
        self.pins = pins
        self.rgb = (
            RGBLED(pins.red_led, pins.green_led, pins.blue_led, pin_factory=pin_factory)
            if pins.blue_led and pins.red_led and pins.green_led
            else None
        )
        self.green = LED(pins.green_led, pin_factory=pin_factory) if pins.green_led and not self.rgb else None
        self.red = LED(pins.red_led, pin_factory=pin_factory) if pins.red_led and not self.rgb else None
        self.buzzer = _buzzer(pins, pin_factory)
        self.gate = (
            GateRelay(pins.relay, active_high=pins.relay_active_high, logic=pins.relay_logic, pin_factory=pin_factory)
            if pins.relay
            else None
        )
        self._tune: threading.Event | None = None

    @property
    def relay(self) -> DigitalOutputDevice | None:
        return self.gate.device if self.gate else None

    def signal(self, event: Event) -> None:
        if event.reason == "panel-decides":
            return  # an access panel decides (docs/osdp.md): its own LED and buzzer commands say so, then its answer
        if event.decision == "ACCEPT":
            if self.gate is not None:
                self.gate.open_for(self.pins.relay_hold_s)
            self._show(GREEN)
        else:
            # Anything but ACCEPT shuts a gate still held open for the person before: the refused person must
            # not walk through on someone else's pulse.
            if self.gate is not None:
                self.gate.shut()
            self._show(RED if event.decision == "DENY" else AMBER)
        self._sound(event.decision)

    def fault(self, reason: str) -> None:
        if self.gate is not None:
            self.gate.shut()
        on, off, count = FAULT_BLINKS.get(reason, FAST_BLINKS)
        if self.rgb is not None:
            self.rgb.blink(on_time=on, off_time=off, on_color=RED, n=count)
        elif self.red is not None:
            self.red.blink(on_time=on, off_time=off, n=count)
        self._sound("fault")

    def panel_light(self, color: str, on: bool) -> None:
        """An access panel's LED command (OSDP): `color` held until the panel says otherwise; off when not `on`."""
        shade = PANEL_COLORS.get(color, OFF) if on else OFF
        if self.rgb is not None:
            self.rgb.color = shade
            return
        for led, lit in ((self.green, shade[1] > 0), (self.red, shade[0] > 0)):
            if led is not None:
                led.on() if lit else led.off()

    def panel_buzzer(self, on: bool) -> None:
        """An access panel's buzzer command (OSDP): sound until it says stop."""
        if isinstance(self.buzzer, TonalBuzzer):
            self.buzzer.play(Tone("A4")) if on else self.buzzer.stop()
        elif self.buzzer is not None:
            self.buzzer.on() if on else self.buzzer.off()

    def close(self) -> None:
        self._stop_tune()
        if self.gate is not None:
            self.gate.release()
        for device in (self.green, self.red, self.rgb, self.buzzer):
            if device is not None:
                device.off() if not isinstance(device, TonalBuzzer) else device.stop()
                device.close()

    def _show(self, color: tuple[float, float, float]) -> None:
        seconds = self.pins.light_s
        if self.rgb is not None:
            self.rgb.blink(on_time=seconds, off_time=0, on_color=color, n=1)
            return
        for led, lit in ((self.green, color[1] > 0), (self.red, color[0] > 0)):
            if led is None:
                continue
            if lit:
                led.blink(on_time=seconds, off_time=0, n=1)
            else:
                led.off()

    def _sound(self, pattern: str) -> None:
        if isinstance(self.buzzer, TonalBuzzer):
            self._play(TUNES[pattern])
        elif self.buzzer is not None:
            on, off, n = BEEPS[pattern]
            self.buzzer.beep(on_time=on, off_time=off, n=n)

    def _play(self, tune: list[tuple[str | None, float]]) -> None:
        self._stop_tune()
        stop = self._tune = threading.Event()
        threading.Thread(target=self._tune_thread, args=(tune, stop), name="tune", daemon=True).start()

    def _tune_thread(self, tune: list[tuple[str | None, float]], stop: threading.Event) -> None:
        buzzer = self.buzzer
        assert isinstance(buzzer, TonalBuzzer)
        for note, seconds in tune:
            if stop.is_set():
                break
            if note is None:
                buzzer.stop()
            else:
                buzzer.play(Tone(note))
            stop.wait(seconds)
        if not stop.is_set():
            buzzer.stop()

    def _stop_tune(self) -> None:
        if self._tune is not None:
            self._tune.set()


def _buzzer(pins: GpioPins, pin_factory: Any) -> Buzzer | TonalBuzzer | None:
    if not pins.buzzer:
        return None
    if pins.buzzer_kind == "tonal":
        return TonalBuzzer(pins.buzzer, pin_factory=pin_factory)
    return Buzzer(pins.buzzer, pin_factory=pin_factory)
