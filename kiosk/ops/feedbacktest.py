"""`kiosk feedback-test`: the technician's walk through every configured output, one at a time, each announced.

On site it drives the real pins and speaker, so the technician sees and hears each one; with --mock it runs the
same sequence on gpiozero's MockFactory and reports each pin's timeline, which is what tests and acceptance
checks read. Whatever cannot be driven is reported with the reason, and the walk goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kiosk.config import KioskConfig
from kiosk.outputs import gpio_pins

LABELS = {
    "green_led": ("Đèn xanh", "Green light"),
    "red_led": ("Đèn đỏ", "Red light"),
    "rgb_led": ("Đèn ba màu", "Three-colour light"),
    "buzzer": ("Còi", "Buzzer"),
    "relay": ("Rơ-le cổng", "Gate relay"),
    "wiegand": ("Tín hiệu Wiegand", "Wiegand output"),
}
LIGHT_S = 0.5
PATTERN_S = 1.6  # the longest buzzer pattern (fault) fits in this
Announcer = Callable[[str], dict[str, Any] | None]


@dataclass
class Report:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    voice: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"outputs": self.outputs, "voice": self.voice, "problems": self.problems}


class Walk:
    """One pass over the outputs with `pin_factory` (MockFactory for --mock), announcing each with `announce`."""

    def __init__(self, config: KioskConfig, pin_factory: Any, announce: Announcer, *, all_gpio: bool = False) -> None:
        self.config = config
        self.all_gpio = all_gpio  # walk [feedback.gpio] even when "gpio" is not among the outputs (--mock)
        self.factory = pin_factory
        self.announce = announce
        self.report = Report()
        self.language = 0 if config.feedback.language == "vi" else 1

    def run(self) -> Report:
        if self.all_gpio or "gpio" in self.config.feedback.outputs:
            self._gpio()
        if "wiegand" in self.config.feedback.outputs:
            self._step("wiegand", self._wiegand)
        return self.report

    def _gpio(self) -> None:
        from kiosk.hardware.gpio import GpioFeedback

        try:
            feedback = GpioFeedback(gpio_pins(self.config), pin_factory=self.factory)
        except Exception as exc:  # no GPIO here, a pin busy: say which and go on with the rest
            self.report.problems.append({"output": "gpio", "error": f"{type(exc).__name__}: {exc}"})
            return
        try:
            self._gpio_steps(feedback)
        finally:
            feedback.close()

    def _gpio_steps(self, feedback: Any) -> None:
        for name, led in (("green_led", feedback.green), ("red_led", feedback.red)):
            if led is not None:
                self._step(name, partial(_flash, led))
        if feedback.rgb is not None:
            self._step("rgb_led", lambda: _flash_rgb(feedback.rgb))
        if feedback.buzzer is not None:
            self._step("buzzer", lambda: _patterns(feedback))
        if feedback.gate is not None:
            self._step("relay", lambda: _pulse(feedback.gate, self.config.feedback.gpio.relay_hold_s))

    def _wiegand(self) -> None:
        from kiosk.hardware.wiegand import frame_bits, make_wiegand_driver

        wiegand = self.config.feedback.wiegand
        driver = make_wiegand_driver(str(wiegand.d0), str(wiegand.d1), self.factory, inverted=wiegand.inverted)
        try:
            bits = frame_bits(1, bits=wiegand.bits, facility=wiegand.facility)
            driver.send(bits, wiegand.pulse_us, wiegand.interval_us)
        finally:
            driver.close()

    def _step(self, name: str, action: Callable[[], None]) -> None:
        spoken = self.announce(LABELS[name][self.language])
        if spoken is not None:
            self.report.voice.append(spoken)
        try:
            action()
        except Exception as exc:
            self.report.problems.append({"output": name, "error": f"{type(exc).__name__}: {exc}"})
            return
        for pin in self._pins(name):
            self.report.outputs.append({"name": name, "pin": pin, "states": timeline(self.factory, pin)})

    def _pins(self, name: str) -> list[str]:
        gpio = self.config.feedback.gpio
        if name == "wiegand":
            return [p for p in (self.config.feedback.wiegand.d0, self.config.feedback.wiegand.d1) if p]
        if name == "rgb_led":
            return [p for p in (gpio.red_led, gpio.green_led, gpio.blue_led) if p]
        pin = getattr(gpio, name)
        return [pin] if pin else []


def _flash(led: Any) -> None:
    led.on()
    time.sleep(LIGHT_S)
    led.off()


def _flash_rgb(rgb: Any) -> None:
    for color in ((1, 0, 0), (0, 1, 0), (0, 0, 1)):
        rgb.color = color
        time.sleep(LIGHT_S)
    rgb.off()


def _patterns(feedback: Any) -> None:
    for pattern in ("ACCEPT", "DENY", "REVIEW", "fault"):
        feedback._sound(pattern)
        time.sleep(PATTERN_S)


def _pulse(gate: Any, hold_s: float) -> None:
    gate.open_for(hold_s)
    time.sleep(hold_s + 0.2)


def timeline(factory: Any, pin: str) -> list[list[float]]:
    """[seconds, value] of every change of `pin` since it was first set up; empty for real pins (not recorded)."""
    try:
        states = factory.pin(int(pin.removeprefix("GPIO"))).states
    except (AttributeError, TypeError, ValueError):
        return []
    seconds, out = 0.0, []
    for state in states:
        seconds += state.timestamp
        out.append([round(seconds, 4), round(float(state.state), 4)])
    return out


def announcer(voice: Any) -> Announcer:
    """Each label rendered with the kiosk's own voice, played, and reported with its WAV."""

    def announce(text: str) -> dict[str, Any]:
        wav: Path = voice.render(text)
        voice.play_file(wav)
        return {"text": text, "wav": str(wav), "seconds": round(voice.wav_seconds(wav), 3)}

    return announce


def silent(text: str) -> None:
    return None
