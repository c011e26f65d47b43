"""A keyboard-wedge scanner (USB HID keyboard) read through evdev, grabbed so that its keystrokes reach no one else.

Without the grab, the codes a scanner types would also land on the console's login prompt or in whatever window
has focus on a kiosk with a desktop: a stranger's code typed into a shell. `EVIOCGRAB` gives this process alone
the device's events. The device is named by a stable path (/dev/input/by-id/usb-...-event-kbd, which survives
re-plugging into another port) or by `name:` and part of the name the device reports (`name:Honeywell`).
"""

from __future__ import annotations

import errno
import select
from collections.abc import Callable
from typing import Any

import evdev
from evdev import ecodes

from kiosk.errors import SourceError
from kiosk.scanner.keymap import KeyDecoder

EventDevice = Any
"""An evdev.InputDevice, or a test's stand-in with the same fileno/read/grab/ungrab/close."""


class HidPort:
    """One opened, grabbed keyboard-wedge scanner: key events in, typed bytes out."""

    def __init__(self, device: EventDevice, keys: KeyDecoder, *, grab: bool = True) -> None:
        self.device = device
        self.keys = keys
        self.name = str(getattr(device, "name", "scanner"))
        if grab:
            try:
                device.grab()
            except OSError as exc:
                device.close()
                raise SourceError(
                    f"{self.name}: cannot take the scanner for this process alone ({exc}); is another program "
                    "reading it?"
                ) from exc

    def receive(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.device.fileno()], [], [], timeout)
        if not ready:
            return b""
        try:
            events = list(self.device.read())
        except BlockingIOError:
            return b""
        typed = bytearray()
        for event in events:
            if event.type == ecodes.EV_KEY:
                typed += self.keys.key(event.code, event.value)
        return bytes(typed)

    def close(self) -> None:
        try:
            self.device.ungrab()
        except OSError:
            pass  # unplugged: the grab went with the device
        finally:
            self.device.close()


def find_device(spec: str, lister: Callable[[], list[str]] = evdev.list_devices) -> str:
    """The event device path for `spec`: a path as it is, or the device whose name contains `name:...`."""
    if not spec.startswith("name:"):
        return spec
    wanted = spec[5:].casefold()
    for path in lister():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue
        try:
            if wanted in device.name.casefold():
                return path
        finally:
            device.close()
    raise OSError(errno.ENODEV, f"no input device whose name contains {spec[5:]!r}")


def hid_opener(spec: str, keys: Callable[[], KeyDecoder]) -> Callable[[], HidPort]:
    """Opens the scanner `spec` names, grabbed, with a fresh key state (no Shift left held from before)."""

    def open_port() -> HidPort:
        return HidPort(evdev.InputDevice(find_device(spec)), keys())

    return open_port
