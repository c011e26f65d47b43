"""Keystrokes back into text: what a keyboard-wedge scanner typed, under the keyboard layout it was set to emulate.

A scanner in keyboard mode turns each character of the code into the key presses that would type it on a
keyboard of the layout configured in the scanner ("US" out of the box on nearly every model; some installers
set the local one). The kernel reports key positions, not characters, so reading the code back needs that same
layout: `LAYOUTS` has "us" (what Vietnamese keyboards use), "de" (QWERTZ) and "fr" (AZERTY, without its dead
keys). Characters a layout cannot type (Vietnamese letters in a CCCD code) are sent by the scanners' Unicode or
"ALT mode" as Alt held down while the code is typed on the keypad: with a leading 0 it is a Windows-1252 byte
(Alt+0233 = é), without one it is the Unicode code point (Alt+7877 = ễ), as Zebra's, Honeywell's and Newland's
Unicode modes send it. A serial (USB CDC) mode avoids all of this and sends the bytes themselves: prefer it.

A key the layout does not know becomes the byte 0xFF, which is never valid UTF-8, so the code it was part of is
refused as garbled rather than read as some other code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evdev import ecodes

UNKNOWN = b"\xff"  # stands for a key the layout cannot map: makes the whole code invalid UTF-8

_ROWS = tuple(
    tuple(f"KEY_{name}" for name in row.split())
    for row in (
        "GRAVE 1 2 3 4 5 6 7 8 9 0 MINUS EQUAL",
        "Q W E R T Y U I O P LEFTBRACE RIGHTBRACE BACKSLASH",
        "A S D F G H J K L SEMICOLON APOSTROPHE",
        "102ND Z X C V B N M COMMA DOT SLASH",
    )
)
"""The keys of a 105-key keyboard's four character rows, by position (Linux names them after the US layout)."""

# Each layout: for every row, what it types plain and with Shift ("\0": nothing), then AltGr's extra characters.
_US = (
    ("`1234567890-=", "~!@#$%^&*()_+"),
    ("qwertyuiop[]\\", "QWERTYUIOP{}|"),
    ("asdfghjkl;'", 'ASDFGHJKL:"'),
    ("\\zxcvbnm,./", "|ZXCVBNM<>?"),
)
_DE = (
    ("^1234567890ß´", '°!"§$%&/()=?`'),
    ("qwertzuiopü+#", "QWERTZUIOPÜ*'"),
    ("asdfghjklöä", "ASDFGHJKLÖÄ"),
    ("<yxcvbnm,.-", ">YXCVBNM;:_"),
)
_DE_ALTGR = {
    "KEY_2": "²",
    "KEY_3": "³",
    "KEY_7": "{",
    "KEY_8": "[",
    "KEY_9": "]",
    "KEY_0": "}",
    "KEY_MINUS": "\\",
    "KEY_Q": "@",
    "KEY_E": "€",
    "KEY_RIGHTBRACE": "~",
    "KEY_102ND": "|",
}
_FR = (
    ("²&é\"'(-è_çà)=", "\x001234567890°+"),
    ("azertyuiop\x00$*", "AZERTYUIOP\x00£µ"),
    ("qsdfghjklmù", "QSDFGHJKLM%"),
    ("<wxcvbn,;:!", ">WXCVBN?./§"),
)
_FR_ALTGR = {
    "KEY_2": "~",
    "KEY_3": "#",
    "KEY_4": "{",
    "KEY_5": "[",
    "KEY_6": "|",
    "KEY_7": "`",
    "KEY_8": "\\",
    "KEY_9": "^",
    "KEY_0": "@",
    "KEY_MINUS": "]",
    "KEY_EQUAL": "}",
    "KEY_E": "€",
    "KEY_RIGHTBRACE": "¤",
}
_KEYPAD = {
    "KEY_KP0": "0",
    "KEY_KP1": "1",
    "KEY_KP2": "2",
    "KEY_KP3": "3",
    "KEY_KP4": "4",
    "KEY_KP5": "5",
    "KEY_KP6": "6",
    "KEY_KP7": "7",
    "KEY_KP8": "8",
    "KEY_KP9": "9",
    "KEY_KPDOT": ".",
    "KEY_KPSLASH": "/",
    "KEY_KPASTERISK": "*",
    "KEY_KPMINUS": "-",
    "KEY_KPPLUS": "+",
    "KEY_SPACE": " ",
}


@dataclass(frozen=True)
class Layout:
    """One keyboard layout: key code -> character, plain, with Shift, and with AltGr."""

    plain: dict[int, str]
    shifted: dict[int, str]
    altgr: dict[int, str] = field(default_factory=dict)


def _layout(rows: tuple[tuple[str, str], ...], altgr: dict[str, str] | None = None) -> Layout:
    plain: dict[int, str] = {}
    shifted: dict[int, str] = {}
    for names, (lower, upper) in zip(_ROWS, rows, strict=True):
        for name, low, up in zip(names, lower, upper, strict=True):
            if low != "\0":
                plain[ecodes.ecodes[name]] = low
            if up != "\0":
                shifted[ecodes.ecodes[name]] = up
    for name, char in _KEYPAD.items():
        plain.setdefault(ecodes.ecodes[name], char)
        shifted.setdefault(ecodes.ecodes[name], char)
    return Layout(plain, shifted, {ecodes.ecodes[k]: v for k, v in (altgr or {}).items()})


LAYOUTS: dict[str, Layout] = {"us": _layout(_US), "de": _layout(_DE, _DE_ALTGR), "fr": _layout(_FR, _FR_ALTGR)}

SUFFIXES: dict[str, int | None] = {"enter": ecodes.KEY_ENTER, "tab": ecodes.KEY_TAB, "none": None}
"""The key a scanner sends after each code (set in the scanner); "none" ends a code at a pause instead."""

_SHIFT = {ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT}
_ALT = ecodes.KEY_LEFTALT
_ALTGR = ecodes.KEY_RIGHTALT
_IGNORED = {ecodes.KEY_LEFTCTRL, ecodes.KEY_RIGHTCTRL, ecodes.KEY_CAPSLOCK, ecodes.KEY_NUMLOCK}
_ALT_DIGITS = {ecodes.ecodes[f"KEY_KP{d}"]: str(d) for d in range(10)}
_DOWN, _UP = 1, 0  # key event values; 2 is autorepeat, which a scanner never means


class KeyDecoder:
    """Key events of one scanner in, the bytes of what it typed out (UTF-8, with the suffix as `terminator`)."""

    def __init__(self, layout: str = "us", suffix: str = "enter", terminator: bytes = b"\r") -> None:
        self.layout = LAYOUTS[layout]
        self.suffix = SUFFIXES[suffix]
        self.terminator = terminator
        self._shift = 0
        self._altgr = False
        self._alt = False
        self._alt_digits = ""

    def key(self, code: int, value: int) -> bytes:
        """The bytes typed by one key event (`value` 1 down, 0 up, 2 repeat)."""
        if code in _SHIFT:
            self._shift = max(0, self._shift + (1 if value == _DOWN else -1 if value == _UP else 0))
            return b""
        if code == _ALTGR:
            self._altgr = value != _UP
            return b""
        if code == _ALT:
            return self._alt_key(value)
        if value != _DOWN or code in _IGNORED:
            return b""
        if self._alt:
            digit = _ALT_DIGITS.get(code)
            if digit is None:
                return UNKNOWN
            self._alt_digits += digit
            return b""
        if self.suffix is not None and code == self.suffix:
            return self.terminator
        return self._char(code)

    def _char(self, code: int) -> bytes:
        table = self.layout.altgr if self._altgr else self.layout.shifted if self._shift else self.layout.plain
        char = table.get(code)
        return UNKNOWN if char is None else char.encode("utf-8")

    def _alt_key(self, value: int) -> bytes:
        if value == _DOWN:
            self._alt, self._alt_digits = True, ""
            return b""
        if value != _UP:
            return b""
        self._alt, digits, self._alt_digits = False, self._alt_digits, ""
        return _alt_char(digits) if digits else b""


def _alt_char(digits: str) -> bytes:
    """Alt+keypad digits: a Windows-1252 byte with a leading 0 (Alt+0233), a Unicode code point without."""
    number = int(digits[:8])
    if digits.startswith("0"):
        if number > 255:
            return UNKNOWN
        try:
            return bytes([number]).decode("cp1252").encode("utf-8")
        except UnicodeDecodeError:
            return UNKNOWN
    if number == 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
        return UNKNOWN
    return chr(number).encode("utf-8")
