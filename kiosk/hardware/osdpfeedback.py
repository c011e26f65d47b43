"""The kiosk's side of "the panel decides" (docs/osdp.md): what it reports to the access panel, and how the panel's
answers come back to the loop to be recorded before anything moves.

The loop commits REVIEW "panel-decides" for each code the kiosk vouches for, and only then signals it; this
output turns that signal into a card read (the subject key's leading bits, or the person's badge number from the
venue's access list). The panel's verdict (`osdpverdict`) comes back as a command for the loop, which records
ACCEPT "panel-granted" or DENY "panel-denied"; the kiosk's own relay opens on that recorded ACCEPT, never on the
panel's command directly. An output command with no card read waiting is the panel opening the door by itself:
the loop records it ("panel-opened") before the relay moves. The panel's LED and buzzer commands drive the
gate's lights and buzzer as they come: they show, they open nothing.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from kiosk.commands import Command
from kiosk.events import Event
from kiosk.hardware.osdp import OsdpReader, OsdpSettings, PanelVerdict
from kiosk.hardware.osdpline import SerialChannel
from kiosk.logs import Throttle

log = logging.getLogger(__name__)

BadgeOf = Callable[[str], int | None]
"""The badge number a venue's access list gives a subject key (None: none)."""


class OsdpFeedback:
    """An output that reports to an access panel over OSDP and hands the panel's answers to the loop."""

    def __init__(
        self,
        settings: OsdpSettings,
        commands: queue.SimpleQueue[Command],
        badge_of: BadgeOf,
        *,
        gpio: Any = None,
        channel: SerialChannel | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.commands = commands
        self.badge_of = badge_of
        self.gpio = gpio  # GpioFeedback, whose lights and buzzer the panel commands; None: no GPIO
        self.clock = clock
        self._awaiting: str | None = None  # the REVIEW event reported, until the panel's verdict
        self._throttle = Throttle(log, every_s=60.0)
        self.reader = OsdpReader(
            settings,
            on_led=self._led,
            on_buzzer=self._buzzer,
            on_output=self._output,
            on_panel=self._verdict,
            channel=channel,
        )

    def start(self) -> None:
        self.reader.start()

    def signal(self, event: Event) -> None:
        if event.reason != "panel-decides" or event.subject_key is None:
            return  # everything else the kiosk decided alone: the panel neither hears of it nor needs to
        badge = self.badge_of(event.subject_key) if self.reader.settings.card_format == "badge" else None
        card = self.reader.card_of(event.subject_key, None if badge is None else str(badge))
        if card is None:
            self.commands.put(Command("panel-no-card", self.clock()))
            return
        self._awaiting = event.event_id
        self.reader.report(card, tag=event.event_id)

    def fault(self, reason: str) -> None:
        pass  # the panel supervises the reader itself (it polls it; a kiosk that stops answering goes offline)

    def close(self) -> None:
        self.reader.stop()

    def _verdict(self, verdict: PanelVerdict) -> None:
        if verdict.tag != self._awaiting:
            return  # an older read's, superseded
        self._awaiting = None
        if verdict.outcome is None:
            self._throttle.warning("silent", "OSDP: the panel did not answer a card read within its window")
            return
        self.commands.put(Command(f"panel-{verdict.outcome}", self.clock()))

    def _output(self, number: int, on: bool, seconds: float) -> None:
        if not on:
            if self.gpio is not None and self.gpio.gate is not None:
                self.gpio.gate.shut()
            return
        if self._awaiting is None:  # no read waiting: the panel opens by itself, recorded first by the loop
            self.commands.put(Command("panel-opened", self.clock()))
        # with a read waiting, the verdict (granted) follows this call and is recorded before the relay opens

    def _led(self, color: str, on: bool) -> None:
        if self.gpio is not None:
            self.gpio.panel_light(color, on)

    def _buzzer(self, on: bool) -> None:
        if self.gpio is not None:
            self.gpio.panel_buzzer(on)
