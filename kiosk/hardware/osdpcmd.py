"""The panel's reader commands (libosdp's command dicts) as what the kiosk should do: a colour, a beep, an output.

Pure: the OSDP thread calls these and then the kiosk's callbacks. Times in OSDP are counts of 100 ms.

LED (osdp_LED): a permanent state (the reader's idle colour) and a temporary one (a verdict, for `timer_count`
ticks, then back to the permanent state). Blinking (both on and off counts set) is shown as steadily lit in the
on colour: the kiosk's lights have their own patterns. Buzzer (osdp_BUZ): tone 2 is "on", 1 "off"; the beep
lasts (on + off) x repeats ticks, repeats 0 meaning until told otherwise. Output (osdp_OUT): codes 1-4 set the
permanent state (seconds 0), 5 and 6 switch on or off for `timer_count` ticks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TICK_S = 0.1
# OSDP's colour codes (the spec's table, libosdp's CommandLEDColor)
COLORS = {0: "black", 1: "red", 2: "green", 3: "amber", 4: "blue", 5: "magenta", 6: "cyan", 7: "white"}
_OUTPUT_CODES = {1: (False, False), 2: (True, False), 3: (False, False), 4: (True, False), 5: (True, True)}


@dataclass(frozen=True, slots=True)
class LedAction:
    color: str  # one of COLORS' names; "black" is off
    on: bool
    temporary: bool
    seconds: float | None  # a temporary state ends after this; None: until the next command


@dataclass(frozen=True, slots=True)
class BuzzerAction:
    on: bool
    seconds: float | None  # None: until the next command


@dataclass(frozen=True, slots=True)
class OutputAction:
    number: int
    on: bool
    seconds: float  # 0: permanent


def _int(cmd: Mapping[str, Any], key: str) -> int:
    value = cmd.get(key, 0)
    return value if isinstance(value, int) else 0


def led_action(cmd: Mapping[str, Any]) -> LedAction | None:
    """None for a no-op (control code 0) or an unknown code."""
    temporary = bool(cmd.get("temporary", False))
    code = _int(cmd, "control_code")
    if temporary and code == 1:  # cancel the temporary state: back to the permanent one
        return LedAction("black", False, True, None)
    if code not in ((2,) if temporary else (1,)):
        return None
    lit = _int(cmd, "on_count") > 0
    color = COLORS.get(_int(cmd, "on_color" if lit else "off_color"), "black")
    seconds = _int(cmd, "timer_count") * TICK_S if temporary else None
    return LedAction(color, color != "black", temporary, seconds or None)


def buzzer_action(cmd: Mapping[str, Any]) -> BuzzerAction | None:
    code = _int(cmd, "control_code")
    if code == 1 or (code == 2 and _int(cmd, "on_count") == 0):
        return BuzzerAction(False, None)
    if code != 2:
        return None
    repeats = _int(cmd, "rep_count")
    seconds = (_int(cmd, "on_count") + _int(cmd, "off_count")) * repeats * TICK_S
    return BuzzerAction(True, seconds or None)


def output_action(cmd: Mapping[str, Any]) -> OutputAction | None:
    code = _int(cmd, "control_code")
    number = _int(cmd, "output_no")
    if code == 6:
        return OutputAction(number, False, _int(cmd, "timer_count") * TICK_S)
    if code not in _OUTPUT_CODES:
        return None
    on, timed = _OUTPUT_CODES[code]
    return OutputAction(number, on, _int(cmd, "timer_count") * TICK_S if timed else 0.0)
