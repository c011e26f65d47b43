"""Configuration of the outputs: lights, buzzer, relay and inputs on GPIO, voice, screen, Wiegand, webhook.

Every pin is a BCM name ("GPIO17"); "" means the device is not fitted. No pin may serve two devices, across
all sections (checked by FeedbackConfig).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from kiosk.config.section import Section

_PIN = re.compile(r"(?:GPIO|BCM)?(\d{1,2})")


def _bcm_pin(value: object) -> object:
    """A pin as "GPIO<n>" (BCM numbering, 0-27 on the 40-pin header); "" means no device is fitted."""
    if value == "" or value is None:
        return None
    match = _PIN.fullmatch(value.strip().upper()) if isinstance(value, str) else None
    if match is None:
        raise ValueError('expected a BCM pin name such as "GPIO17", or "" for none')
    number = int(match.group(1))
    if number > 27:
        raise ValueError(f"GPIO{number} is not on the 40-pin header (GPIO0-GPIO27)")
    return f"GPIO{number}"


Pin = Annotated[str | None, BeforeValidator(_bcm_pin)]


class GpioConfig(Section):
    pin_factory: Literal["auto", "lgpio", "rpigpio", "pigpio", "native", "mock"] = Field(
        "auto", description="gpiozero pin factory; lgpio on a Pi 5, mock for tests and the demo."
    )
    green_led: Pin = Field("GPIO22", description='Green LED pin (ACCEPT); "" if not fitted.')
    red_led: Pin = Field("GPIO27", description="Red LED pin (DENY, REVIEW, fault).")
    blue_led: Pin = Field(None, description="Blue pin of an RGB LED (with red_led and green_led); none by default.")
    buzzer: Pin = Field("GPIO18", description="Buzzer pin.")
    buzzer_kind: Literal["active", "tonal"] = Field(
        "active", description="active: beeps on its own; tonal: a passive piezo driven with PWM tones."
    )
    relay: Pin = Field("GPIO17", description="Gate relay pin.")
    relay_active_high: bool = Field(True, description="Relay board switches on a high level.")
    relay_logic: Literal["energize-to-open", "energize-to-lock"] = Field(
        "energize-to-open",
        description="energize-to-open: fail-secure (the gate stays shut when the kiosk stops or loses power); "
        "energize-to-lock: fail-safe (an emergency exit opens).",
    )
    relay_hold_s: float = Field(3.0, ge=1, le=10, description="How long the gate stays open after ACCEPT.")
    light_s: float = Field(1.5, ge=0.2, le=10, description="How long a result light stays on.")
    door_sensor: Pin = Field(None, description="Door contact input (closed when the door is shut).")
    door_open_alarm_s: float = Field(15, ge=2, le=600, description="Alarm when the door stays open this long.")
    guard_button: Pin = Field(None, description="Button with which the guard accepts a REVIEW decision.")
    review_timeout_s: float = Field(30, ge=5, le=600, description="How long a REVIEW waits for the guard's button.")
    exit_button: Pin = Field(None, description="Request-to-exit button: opens the gate for someone leaving.")

    @model_validator(mode="after")
    def _pins_distinct(self) -> GpioConfig:
        _distinct(self.assigned())
        return self

    def assigned(self) -> dict[str, str]:
        names = ("green_led", "red_led", "blue_led", "buzzer", "relay", "door_sensor", "guard_button", "exit_button")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def _distinct(pins: dict[str, str]) -> None:
    if len(set(pins.values())) != len(pins):
        raise ValueError(f"a pin is used twice: {pins}")


class VoiceConfig(Section):
    engine: Literal["espeak-ng", "pyttsx3"] = Field(
        "espeak-ng", description="Renders prompts to WAV once; espeak-ng directly (pyttsx3 can hang on a Pi)."
    )
    voice: str = Field("vi", pattern=r"^[A-Za-z0-9_+-]{1,32}$", description="espeak-ng voice (vi, en, en-us, ...).")
    rate_wpm: int = Field(150, ge=80, le=400, description="Speaking rate, words per minute.")
    amplitude: int = Field(100, ge=0, le=200, description="espeak-ng amplitude (0-200).")
    player: list[str] = Field(
        ["aplay", "-q"], min_length=1, description="Command that plays a WAV file (its path is appended)."
    )
    timeout_s: float = Field(6.0, ge=0.5, le=30, description="A playback still running after this is killed.")
    cache_dir: Path | None = Field(
        None, strict=False, description="Rendered prompts (default: <state_dir>/voice-cache)."
    )


class ScreenConfig(Section):
    driver: Literal["pygame", "opencv"] = Field(
        "pygame", description="pygame/SDL (kmsdrm on Raspberry Pi OS Lite) or OpenCV highgui (with a desktop)."
    )
    width: int = Field(800, ge=320, le=3840, description="Screen width in pixels.")
    height: int = Field(480, ge=240, le=2160, description="Screen height in pixels.")
    fullscreen: bool = Field(True, description="Take the whole screen.")
    fps: float = Field(15, gt=0, le=60, description="Redraws per second.")
    banner_s: float = Field(3.0, ge=0.5, le=30, description="How long a result banner stays.")
    font: Path | None = Field(
        None, strict=False, description="TrueType font with Vietnamese glyphs (default: DejaVu Sans)."
    )


class WiegandConfig(Section):
    d0: Pin = Field("GPIO23", description="DATA0 line (through a level shifter to the panel's 5 V).")
    d1: Pin = Field("GPIO24", description="DATA1 line.")
    bits: Literal[26, 34] = Field(26, description="Frame format: 26-bit (facility + 16-bit card) or 34-bit.")
    facility: int = Field(0, ge=0, le=255, description="Facility code (26-bit frames).")
    pulse_us: int = Field(100, ge=20, le=500, description="Pulse width, microseconds.")
    interval_us: int = Field(2000, ge=200, le=20000, description="Time from one pulse to the next, microseconds.")
    send_on: Literal["accept", "all"] = Field(
        "accept", description="accept: send the card number only for ACCEPT; all: for every identified person."
    )
    inverted: bool = Field(
        False, description="An NPN or optocoupler stage (inverting): the Pi idles low and pulses high."
    )

    @model_validator(mode="after")
    def _facility_fits(self) -> WiegandConfig:
        if self.bits == 34 and self.facility:
            raise ValueError("34-bit frames have no facility code: leave facility at 0")
        return self


class WebhookConfig(Section):
    url: str = Field(..., pattern=r"^https?://\S+$", description="URL to POST each decision to (JSON).")
    timeout_s: float = Field(2.0, ge=0.1, le=30, description="Give up on one call after this.")
    queue: int = Field(100, ge=1, le=10000, description="Calls waiting at most; more are dropped and counted.")
    headers: dict[str, str] = Field({}, description="Extra HTTP headers (e.g. an Authorization token).")


class OsdpConfig(Section):
    port: str = Field(
        "/dev/serial0", min_length=1, description="The RS-485 adapter: /dev/serial/by-id/..., or the Pi's UART."
    )
    baud: Literal[9600, 19200, 38400, 57600, 115200, 230400] = Field(9600, description="The line's speed.")
    address: int = Field(0, ge=0, le=126, description="This reader's OSDP address on the line (0-126).")
    key_file: Path | None = Field(
        None,
        strict=False,
        description="The secure-channel key (SCBK, 32 hex digits, mode 0600; default <state_dir>/osdp-scbk.key).",
    )
    install_mode: bool = Field(
        False, description="No key yet: take the one the panel sends (KEYSET) and keep it in key_file."
    )
    card_format: Literal["subject-bits", "badge"] = Field(
        "subject-bits", description="subject-bits: the subject key's leading bits; badge: the enrolled badge number."
    )
    bits: int = Field(64, ge=8, le=128, description="Length of the card read in bits (26 and 34: Wiegand frames).")
    facility: int = Field(0, ge=0, le=255, description="Facility code (26-bit cards only).")
    verdict_window_s: float = Field(
        3.0, ge=0.5, le=30, description="How long the panel has to answer a card read before it counts as silent."
    )


OutputName = Literal["console", "gpio", "voice", "screen", "wiegand", "webhook", "osdp"]


class FeedbackConfig(Section):
    outputs: list[OutputName] = Field(["console"], description="Where results are signalled.")
    language: Literal["vi", "en"] = Field("vi", description="Language of the spoken and shown messages.")
    messages: dict[str, str] = Field({}, description="Message per reason code, overriding the built-in ones.")
    gpio: GpioConfig = Field(default_factory=GpioConfig, description="GPIO outputs and inputs.")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, description="Spoken prompts.")
    screen: ScreenConfig = Field(default_factory=ScreenConfig, description="Result screen.")
    wiegand: WiegandConfig = Field(default_factory=WiegandConfig, description="Wiegand output to a panel.")
    webhook: WebhookConfig | None = Field(None, description="HTTP call per decision (turnstile controllers).")
    osdp: OsdpConfig = Field(default_factory=OsdpConfig, description="The kiosk as an OSDP reader on a panel.")

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackConfig:
        if "wiegand" in self.outputs:
            wiegand = {f"wiegand.{n}": p for n, p in (("d0", self.wiegand.d0), ("d1", self.wiegand.d1)) if p}
            _distinct({**self.gpio.assigned(), **wiegand})
        if "osdp" in self.outputs and "wiegand" in self.outputs:
            raise ValueError('outputs has both "osdp" and "wiegand": a gate reports to its panel one way')
        if "webhook" in self.outputs and self.webhook is None:
            raise ValueError('outputs has "webhook" but there is no [feedback.webhook] with a url')
        if self.gpio.buzzer_kind == "tonal" and self.gpio.buzzer not in (None, *_PWM_PINS):
            raise ValueError(f"a tonal buzzer needs a PWM pin ({', '.join(_PWM_PINS)}); {self.gpio.buzzer} is not one")
        return self


# Hardware PWM channels of the Raspberry Pi's 40-pin header; lgpio can do software PWM on any pin, but a tone
# from software PWM warbles when the CPU is busy decoding.
_PWM_PINS = ("GPIO12", "GPIO13", "GPIO18", "GPIO19")
