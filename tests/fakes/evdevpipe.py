"""A keyboard-wedge scanner without uinput: what a /dev/input/event node is to evdev, over a pipe.

This machine's kernel has no uinput, so no virtual keyboard can be made. The kiosk reads key events through
evdev's own C reader, which unpacks the kernel's `struct input_event` records from the descriptor; this device
writes those same records into a pipe, so the reader under test is evdev's, unchanged. What it leaves out are
the ioctls (the grab is recorded instead) and the device's capabilities. Unplugging closes the pipe, and a read
then fails with ENODEV, as the kernel's does.
"""

from __future__ import annotations

import errno
import os
import struct
import time
from collections.abc import Iterator

from evdev import ecodes
from evdev.eventio import EventIO

from kiosk.scanner.keymap import LAYOUTS

_EVENT = struct.Struct("llHHi")  # struct input_event on a 64-bit machine: timeval, type, code, value


def keystrokes(text: str, layout: str = "us", suffix: int | None = ecodes.KEY_ENTER) -> list[tuple[int, int]]:
    """The key events a scanner set to `layout` sends for `text`: Shift or AltGr held where needed, and what the
    layout cannot type sent as Alt + the code point on the keypad (the scanners' Unicode mode)."""
    table = LAYOUTS[layout]
    where: dict[str, tuple[int, int | None]] = {}
    for mods, keys in ((ecodes.KEY_RIGHTALT, table.altgr), (ecodes.KEY_LEFTSHIFT, table.shifted), (None, table.plain)):
        for code, char in keys.items():
            where[char] = (code, mods)
    events: list[tuple[int, int]] = []
    for char in text:
        if char in where:
            code, mod = where[char]
            keys = [(mod, 1)] if mod else []
            events += [*keys, (code, 1), (code, 0)] + ([(mod, 0)] if mod else [])
        else:
            events.append((ecodes.KEY_LEFTALT, 1))
            for digit in str(ord(char)):
                pad = ecodes.ecodes[f"KEY_KP{digit}"]
                events += [(pad, 1), (pad, 0)]
            events.append((ecodes.KEY_LEFTALT, 0))
    if suffix is not None:
        events += [(suffix, 1), (suffix, 0)]
    return events


class PipeEventDevice(EventIO):
    """An event device node as evdev reads it: struct input_event records, read by evdev's C reader."""

    def __init__(self, name: str = "Honeywell Imaging & Mobility 1900") -> None:
        self.fd, self._writer = os.pipe()
        os.set_blocking(self.fd, False)
        self.name = name
        self.grabbed = False
        self.closed = False

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def read(self) -> Iterator:  # type: ignore[override]
        events = list(super().read())  # BlockingIOError when nothing is waiting, as from the kernel
        if not events:  # the pipe's end: what the kernel answers for an unplugged device
            raise OSError(errno.ENODEV, "No such device")
        return iter(events)

    def type(self, events: list[tuple[int, int]], per_key_s: float = 0.0) -> None:
        for code, value in events:
            t = time.time()
            sec, usec = int(t), int((t % 1) * 1e6)
            os.write(self._writer, _EVENT.pack(sec, usec, ecodes.EV_KEY, code, value))
            os.write(self._writer, _EVENT.pack(sec, usec, ecodes.EV_SYN, ecodes.SYN_REPORT, 0))
            if per_key_s:
                time.sleep(per_key_s)

    def unplug(self) -> None:
        os.close(self._writer)
