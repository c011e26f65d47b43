"""Building a gate's outputs and inputs from config: console, GPIO (with its buttons and door contact), voice,
screen, Wiegand, webhook, OSDP. One pin factory serves every GPIO device; a part that cannot start says which and why.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.builders import HardwareError, build_pin_factory
from kiosk.commands import Command
from kiosk.config import KioskConfig
from kiosk.config.outputs import OutputName
from kiosk.events import Event
from kiosk.hardware import ConsoleFeedback, Feedback, FeedbackFanout
from kiosk.policy.messages import Messages

log = logging.getLogger(__name__)


def gpio_pins(config: KioskConfig) -> Any:
    """The gate's GPIO outputs as configured (gpiozero is imported only when GPIO is used)."""
    from kiosk.hardware.gpio import GpioPins

    gpio = config.feedback.gpio
    return GpioPins(
        gpio.green_led,
        gpio.red_led,
        gpio.buzzer,
        gpio.relay,
        gpio.relay_active_high,
        gpio.relay_hold_s,
        gpio.light_s,
        gpio.blue_led,
        gpio.buzzer_kind,
        gpio.relay_logic,
    )


@dataclass
class Outputs:
    """Every output as one Feedback, plus the parts the assembly wires further (screen frames, buttons)."""

    fanout: FeedbackFanout
    screen: Any = None  # ScreenFeedback: the loop hands it frames
    gpio: Any = None  # GpioFeedback
    osdp: Any = None  # OsdpFeedback: the status page shows the panel's link
    closers: list[Any] = field(default_factory=list)  # inputs: closed with the outputs

    def signal(self, event: Event) -> None:
        self.fanout.signal(event)

    def fault(self, reason: str) -> None:
        self.fanout.fault(reason)

    def close(self) -> None:
        try:
            self.fanout.close()
        finally:
            for closer in self.closers:
                closer.close()


@dataclass(frozen=True)
class _Wiring:
    """What an output's builder may need beside the config: one pin factory, the messages, the button queue."""

    factory: Any
    messages: Messages
    commands: queue.SimpleQueue[Command]
    badge_of: Callable[[str], int | None]


def build_outputs(
    config: KioskConfig,
    commands: queue.SimpleQueue[Command],
    *,
    pin_factory: Any = None,
    badge_of: Callable[[str], int | None] = lambda key: None,
) -> Outputs:
    """The outputs `feedback.outputs` names, each by its builder in OUTPUTS, in OUTPUTS' order. `badge_of` gives a
    person's badge number from the access list in force (an OSDP reader may present them as it)."""
    feedback = config.feedback
    wanted = set(feedback.outputs)
    needs_pins = bool(wanted & {"gpio", "wiegand"})
    factory = pin_factory if pin_factory is not None or not needs_pins else build_pin_factory(feedback.gpio.pin_factory)
    wiring = _Wiring(factory, Messages(feedback.language, feedback.messages), commands, badge_of)
    outputs = Outputs(FeedbackFanout([]))
    for name, add in OUTPUTS.items():
        if name in wanted:
            add(config, outputs, wiring)
    return outputs


def _console(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    outputs.fanout.outputs.append(ConsoleFeedback())


def _add_voice(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    outputs.fanout.outputs.append(_voice(config, wiring.messages))


def _add_screen(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    outputs.screen = _screen(config, wiring.messages)
    outputs.fanout.outputs.append(outputs.screen)


def _add_wiegand(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    outputs.fanout.outputs.append(_wiegand(config, wiring.factory))


def _webhook(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    if config.feedback.webhook is not None:
        from kiosk.hardware.webhook import WebhookFeedback

        outputs.fanout.outputs.append(WebhookFeedback(config.feedback.webhook))


def _osdp(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    """The kiosk as an OSDP reader on an access panel (docs/osdp.md); its thread starts here, as GPIO's pins do."""
    from kiosk.hardware.osdp import OsdpError
    from kiosk.hardware.osdpfeedback import OsdpFeedback

    try:
        osdp = OsdpFeedback(osdp_settings(config), wiring.commands, wiring.badge_of, gpio=outputs.gpio)
        osdp.start()
    except OsdpError as exc:
        raise HardwareError(f"the OSDP reader cannot start: {exc}") from exc
    outputs.fanout.outputs.append(osdp)
    outputs.osdp = osdp


def osdp_settings(config: KioskConfig) -> Any:
    """The reader's settings: the key from its file (0600) when there is one; else install mode, if allowed."""
    from kiosk.hardware.osdp import OsdpError, OsdpSettings
    from kiosk.hardware.osdpkey import load_scbk

    osdp = config.feedback.osdp
    key_file = osdp.key_file or Path(config.state_dir) / "osdp-scbk.key"
    if key_file.exists():
        scbk, install = load_scbk(key_file), False  # a key the panel sent in install mode is used from now on
    elif osdp.install_mode:
        scbk, install = None, True
    else:
        raise OsdpError(
            f"no secure-channel key: put its 32 hex digits in {key_file} (chmod 600), or set install_mode = true "
            "to take it from the panel"
        )
    return OsdpSettings(
        osdp.port,
        baud=osdp.baud,
        address=osdp.address,
        scbk=scbk,
        install_mode=install,
        key_file=key_file,
        card_format=osdp.card_format,
        bits=osdp.bits,
        facility=osdp.facility,
        verdict_window_s=osdp.verdict_window_s,
    )


def _gpio(config: KioskConfig, outputs: Outputs, wiring: _Wiring) -> None:
    from gpiozero.exc import GPIOZeroError

    from kiosk.hardware.gpio import GpioFeedback
    from kiosk.hardware.inputs import GateInputs

    gpio = config.feedback.gpio
    try:
        factory = wiring.factory
        outputs.gpio = GpioFeedback(gpio_pins(config), pin_factory=factory)
        outputs.fanout.outputs.append(outputs.gpio)
        gate = outputs.gpio.gate
        inputs = GateInputs(
            wiring.commands,
            door_sensor=gpio.door_sensor,
            guard_button=gpio.guard_button,
            exit_button=gpio.exit_button,
            door_open_alarm_s=gpio.door_open_alarm_s,
            gate_open=(lambda: gate.is_open) if gate is not None else (lambda: False),
            alarm=outputs.fanout.fault,
            pin_factory=factory,
        )
    except GPIOZeroError as exc:
        hint = 'set feedback.gpio.pin_factory = "mock" to run without GPIO'
        raise HardwareError(f"GPIO cannot start: {exc}; {hint}") from exc
    outputs.closers.append(inputs)


def _voice(config: KioskConfig, messages: Messages) -> Feedback:
    from kiosk.hardware.voice import VoiceFeedback

    voice = config.feedback.voice
    # No tone fallback: with GPIO, the buzzer already sounds every decision; without it there is nothing to beep.
    return VoiceFeedback(voice, messages, voice.cache_dir or Path(config.state_dir) / "voice-cache")


def _screen(config: KioskConfig, messages: Messages) -> Any:
    from kiosk.hardware.display import ScreenError, ScreenFeedback

    roi = config.decode.roi
    try:
        return ScreenFeedback(
            config.feedback.screen, messages, roi=(roi.x, roi.y, roi.width, roi.height) if roi else None
        )
    except ScreenError as exc:
        raise HardwareError(f"the screen cannot start: {exc}") from exc


def _wiegand(config: KioskConfig, factory: Any) -> Feedback:
    from gpiozero.exc import GPIOZeroError

    from kiosk.hardware.wiegand import WiegandError, WiegandFeedback

    wiegand = config.feedback.wiegand
    try:
        return WiegandFeedback(wiegand, pin_factory=factory, inverted=wiegand.inverted)
    except (GPIOZeroError, WiegandError) as exc:
        raise HardwareError(f"the Wiegand output cannot start: {exc}") from exc


# Each output's builder, by its name in `feedback.outputs`; the fan-out calls them in this order.
OUTPUTS: dict[OutputName, Callable[[KioskConfig, Outputs, _Wiring], None]] = {
    "console": _console,
    "gpio": _gpio,
    "voice": _add_voice,
    "screen": _add_screen,
    "wiegand": _add_wiegand,
    "webhook": _webhook,
    "osdp": _osdp,  # after gpio: the panel's LED and buzzer commands drive its lights
}
