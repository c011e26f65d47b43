"""libosdp's command callback for the reader: obeys LED, buzzer and output commands, keeps a KEYSET, refuses the rest.

libosdp calls it from the OSDP thread, in the middle of answering the panel, and expects a tuple (code, None):
0 acknowledges, a negative code is a NAK. An exception would leave libosdp's C callback with no answer, so every
call is guarded: a kiosk callback that raises is logged by its type only (the message might carry the card or
the key) and the command is still acknowledged, because the panel's command was valid.

Temporary LED states and timed beeps end here too: `tick` calls the callback again with "off" when their time is
up, unless a newer command came first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kiosk.hardware.osdpcard import CardRead
from kiosk.hardware.osdpcmd import buzzer_action, led_action, output_action
from kiosk.hardware.osdpkey import save_scbk
from kiosk.hardware.osdpverdict import Verdicts

log = logging.getLogger(__name__)

ACK = 0
NAK_RECORD = -9  # OSDP_PD_NAK_RECORD: "unable to process the command record", the code an application may give
KEYSET_SCBK = 1  # osdp_KEYSET key type: the secure-channel base key


class CommandHandler:
    def __init__(
        self,
        on_led: Callable[[str, bool], None],
        on_buzzer: Callable[[bool], None],
        on_output: Callable[[int, bool, float], None],
        verdicts: Verdicts,
        *,
        key_file: Path | None,
        clock: Callable[[], float],
    ) -> None:
        self.on_led, self.on_buzzer, self.on_output = on_led, on_buzzer, on_output
        self.verdicts = verdicts
        self.key_file = key_file
        self.clock = clock
        self.obeyed = self.refused = self.errors = 0
        self._led_off: tuple[float, str] | None = None  # (when, colour) a temporary LED state ends
        self._buzzer_off: float | None = None
        self._ids: dict[int, str] = {}
        self._card_format = 1  # libosdp's CARD_FMT_RAW_WIEGAND, read from the module in bind()
        self._card_event = 1

    def bind(self, osdp: Any) -> None:
        """Reads libosdp's command and event codes (the module is imported only when a reader starts)."""
        c = osdp.Command
        self._ids = {c.LED: "led", c.Buzzer: "buzzer", c.Output: "output", c.Keyset: "keyset"}
        self._card_format = osdp.CardFormat.Wiegand
        self._card_event = osdp.Event.CardRead

    def card_event(self, card: CardRead) -> dict[str, Any]:
        """libosdp's event dict for a card read on reader 0."""
        return {
            "event": self._card_event,
            "reader_no": 0,
            "format": self._card_format,
            "direction": 0,
            "length": card.length,
            "data": card.data,
        }

    def __call__(self, cmd: Mapping[str, Any]) -> tuple[int, None]:
        try:
            kind = self._ids.get(cmd.get("command", -1)) if isinstance(cmd, Mapping) else None
            if kind is None or (kind == "keyset" and not self._keyset(cmd)):
                self.refused += 1
                return NAK_RECORD, None
            if kind != "keyset":
                getattr(self, f"_{kind}")(cmd, self.clock())
            self.obeyed += 1
            return ACK, None
        except Exception as exc:
            self.errors += 1
            log.error("OSDP: handling a panel command failed (%s)", type(exc).__name__)
            return ACK, None

    def tick(self, now: float) -> None:
        if self._led_off is not None and now >= self._led_off[0]:
            color, self._led_off = self._led_off[1], None
            self._safe(self.on_led, color, False)
        if self._buzzer_off is not None and now >= self._buzzer_off:
            self._buzzer_off = None
            self._safe(self.on_buzzer, False)

    def _led(self, cmd: Mapping[str, Any], now: float) -> None:
        action = led_action(cmd)
        if action is None:
            return
        if action.temporary and not action.on and self._led_off is not None:  # cancel: end the temporary colour
            color, self._led_off = self._led_off[1], None
            self._safe(self.on_led, color, False)
            return
        self._led_off = (now + action.seconds, action.color) if action.temporary and action.seconds else None
        self._safe(self.on_led, action.color, action.on)
        self.verdicts.led(action.color, temporary=action.temporary, now=now)

    def _buzzer(self, cmd: Mapping[str, Any], now: float) -> None:
        action = buzzer_action(cmd)
        if action is None:
            return
        self._buzzer_off = now + action.seconds if action.on and action.seconds else None
        self._safe(self.on_buzzer, action.on)

    def _output(self, cmd: Mapping[str, Any], now: float) -> None:
        action = output_action(cmd)
        if action is None:
            return
        self._safe(self.on_output, action.number, action.on, action.seconds)
        self.verdicts.output(on=action.on, now=now)

    def _keyset(self, cmd: Mapping[str, Any]) -> bool:
        """Keeps the panel's new key; False (NAK, the old key stays) without a key file or on a write error."""
        data = cmd.get("data")
        if self.key_file is None or cmd.get("type") != KEYSET_SCBK or not isinstance(data, bytes) or len(data) != 16:
            log.warning("OSDP: KEYSET from the panel refused (no key file configured, or not a 16-byte SCBK)")
            return False
        try:
            save_scbk(self.key_file, data)
        except Exception as exc:
            log.error("OSDP: KEYSET from the panel not kept: %s cannot be written (%s)", self.key_file, exc)
            return False
        log.warning("OSDP: the panel set a new secure-channel key; kept in %s", self.key_file)
        return True

    def _safe(self, call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception as exc:
            self.errors += 1
            log.error(
                "OSDP: the kiosk's %s callback failed (%s)", getattr(call, "__name__", "command"), type(exc).__name__
            )
