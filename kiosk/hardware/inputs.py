"""The gate's inputs: door contact, the guard's button, the request-to-exit button.

Buttons do not act by themselves: a press becomes a command the frame loop takes, so that what it causes (an
opening) is recorded first, like any decision. gpiozero calls these handlers on its own thread; they only
queue, never touch the store or the relay.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from gpiozero import Button

from kiosk.commands import Command

log = logging.getLogger(__name__)


class GateInputs:
    def __init__(
        self,
        commands: queue.SimpleQueue[Command],
        *,
        door_sensor: str | None = None,
        guard_button: str | None = None,
        exit_button: str | None = None,
        door_open_alarm_s: float = 15.0,
        gate_open: Callable[[], bool] = lambda: False,
        alarm: Callable[[str], None] = lambda reason: None,
        pin_factory: Any = None,
    ) -> None:
        self.commands = commands
        self.alarm = alarm
        self.gate_open = gate_open
        self.door_open_alarm_s = door_open_alarm_s
        self._door_timer: threading.Timer | None = None
        # Contacts close to ground: pull-ups inside the Pi, pressed = closed. A bouncing contact counts once.
        self.guard = self._button(guard_button, pin_factory, lambda: self._command("guard-accept"))
        self.exit = self._button(exit_button, pin_factory, lambda: self._command("exit"))
        self.door = (
            Button(door_sensor, pull_up=True, bounce_time=0.05, pin_factory=pin_factory) if door_sensor else None
        )
        if self.door is not None:
            self.door.when_released = self._door_opened  # the contact opens when the door does
            self.door.when_pressed = self._door_closed

    @staticmethod
    def _button(pin: str | None, pin_factory: Any, handler: Callable[[], None]) -> Button | None:
        if pin is None:
            return None
        button = Button(pin, pull_up=True, bounce_time=0.05, pin_factory=pin_factory)
        button.when_pressed = handler
        return button

    def _command(self, name: str) -> None:
        self.commands.put(Command(name, time.monotonic()))

    def _door_opened(self) -> None:
        if not self.gate_open():
            log.error("door opened while the gate was shut: forced or held by hand")
            self.alarm("door-forced")
        self._cancel_door_timer()
        self._door_timer = threading.Timer(self.door_open_alarm_s, self._door_held)
        self._door_timer.daemon = True
        self._door_timer.start()

    def _door_held(self) -> None:
        log.error("door open for more than %.0f s", self.door_open_alarm_s)
        self.alarm("door-held-open")

    def _door_closed(self) -> None:
        self._cancel_door_timer()

    def _cancel_door_timer(self) -> None:
        if self._door_timer is not None:
            self._door_timer.cancel()
            self._door_timer = None

    def close(self) -> None:
        self._cancel_door_timer()
        for device in (self.guard, self.exit, self.door):
            if device is not None:
                device.close()
