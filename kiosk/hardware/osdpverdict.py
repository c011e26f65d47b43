"""The panel's verdict on a card read, inferred from the commands it sends next ("the panel decides").

OSDP has no "access granted" message: a panel answers a card read by driving the reader (a temporary LED colour,
a beep) and its own door strike, and only some panels also drive one of the reader's outputs. So the verdict is
inferred, once per card read, from the first telling command within `window_s` seconds of the report:
  a temporary LED command lit green            granted
  a temporary LED command lit red              denied
  an output command switching an output on     granted (the panel opens a strike wired to the reader)
  nothing telling within the window            None (the panel was silent, or spoke in a way not understood)

Limits, for whoever reads the records: this is how most panels signal, not a rule of the protocol. Permanent LED
commands are ignored by default (panels use them for the reader's idle colour, typically red, which is no
denial); amber, blue and other colours, "off" and buzzer commands decide nothing (many panels beep either way). A
panel that shows its verdict only on its own door hardware looks silent here. A command the panel sends for
another reason inside the window (a lockdown colour) is taken as the verdict. A second card read before the first
verdict ends the first window with None.

Not thread-safe: the OSDP thread calls every method (tests call them with their own clock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

Outcome = Literal["granted", "denied"]
WINDOW_S = 3.0


@dataclass(frozen=True, slots=True)
class PanelVerdict:
    """What the panel made of one reported card read. `tag` is what the caller passed with the report (e.g. the
    id of the REVIEW event), `after_s` how long after the report the telling command came (None when silent)."""

    outcome: Outcome | None
    tag: object = None
    after_s: float | None = None


class Verdicts:
    """Opens a window at each report and calls `on_panel` exactly once for it."""

    def __init__(
        self, on_panel: Callable[[PanelVerdict], None], *, window_s: float = WINDOW_S, permanent_leds: bool = False
    ) -> None:
        self.on_panel = on_panel
        self.window_s = window_s
        self.permanent_leds = permanent_leds
        self._pending: tuple[float, object] | None = None  # (reported at, tag)

    @property
    def waiting(self) -> bool:
        return self._pending is not None

    def reported(self, now: float, tag: object = None) -> None:
        """A card read went to the panel at `now`; an earlier one still waiting ends silent."""
        if self._pending is not None:
            self._settle(None, now)
        self._pending = (now, tag)

    def led(self, color: str, *, temporary: bool, now: float) -> None:
        if not temporary and not self.permanent_leds:
            return
        if color == "green":
            self._decide("granted", now)
        elif color == "red":
            self._decide("denied", now)

    def output(self, *, on: bool, now: float) -> None:
        if on:
            self._decide("granted", now)

    def tick(self, now: float) -> None:
        """Ends a window that has run out (the panel was silent)."""
        if self._pending is not None and now - self._pending[0] > self.window_s:
            self._settle(None, now)

    def close(self, now: float) -> None:
        """Ends a waiting window silent (the reader stops)."""
        if self._pending is not None:
            self._settle(None, now)

    def dropped(self, tag: object = None) -> None:
        """A card read that never reached the panel: its verdict is None at once."""
        self._call(PanelVerdict(None, tag))

    def _decide(self, outcome: Outcome, now: float) -> None:
        if self._pending is None:
            return
        if now - self._pending[0] > self.window_s:
            self._settle(None, now)
            return
        self._settle(outcome, now)

    def _settle(self, outcome: Outcome | None, now: float) -> None:
        assert self._pending is not None
        at, tag = self._pending
        self._pending = None
        self._call(PanelVerdict(outcome, tag, round(now - at, 3) if outcome else None))

    def _call(self, verdict: PanelVerdict) -> None:
        try:
            self.on_panel(verdict)
        except Exception as exc:  # the callback is the kiosk's; it must not stop the OSDP thread
            log.error("OSDP: on_panel failed (%s)", type(exc).__name__)
