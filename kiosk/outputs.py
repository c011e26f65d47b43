"""Building a gate's outputs and inputs from config: console, GPIO (with its buttons and door contact), voice,
screen, Wiegand, webhook. One pin factory serves every GPIO device; a part that cannot start says which and why.
"""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.builders import HardwareError, build_pin_factory
from kiosk.commands import Command
from kiosk.config import KioskConfig
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


def build_outputs(config: KioskConfig, commands: queue.SimpleQueue[Command], *, pin_factory: Any = None) -> Outputs:
    feedback = config.feedback
    wanted = feedback.outputs
    needs_pins = "gpio" in wanted or "wiegand" in wanted
    factory = pin_factory if pin_factory is not None or not needs_pins else build_pin_factory(feedback.gpio.pin_factory)
    messages = Messages(feedback.language, feedback.messages)
    outputs = Outputs(FeedbackFanout([]))
    if "console" in wanted:
        outputs.fanout.outputs.append(ConsoleFeedback())
    if "gpio" in wanted:
        _gpio(config, outputs, commands, factory)
    if "voice" in wanted:
        outputs.fanout.outputs.append(_voice(config, messages))
    if "screen" in wanted:
        outputs.screen = _screen(config, messages)
        outputs.fanout.outputs.append(outputs.screen)
    if "wiegand" in wanted:
        outputs.fanout.outputs.append(_wiegand(config, factory))
    if "webhook" in wanted and feedback.webhook is not None:
        from kiosk.hardware.webhook import WebhookFeedback

        outputs.fanout.outputs.append(WebhookFeedback(feedback.webhook))
    return outputs


def _gpio(config: KioskConfig, outputs: Outputs, commands: queue.SimpleQueue[Command], factory: Any) -> None:
    from gpiozero.exc import GPIOZeroError

    from kiosk.hardware.gpio import GpioFeedback
    from kiosk.hardware.inputs import GateInputs

    gpio = config.feedback.gpio
    try:
        outputs.gpio = GpioFeedback(gpio_pins(config), pin_factory=factory)
        outputs.fanout.outputs.append(outputs.gpio)
        gate = outputs.gpio.gate
        inputs = GateInputs(
            commands,
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
