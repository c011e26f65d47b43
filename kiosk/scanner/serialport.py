"""A scanner on a serial line (RS-232, or USB in its CDC/"virtual COM" mode) read with pyserial.

The bytes are the code's own bytes, so Vietnamese text arrives as the UTF-8 the QR code holds, with no keyboard
layout in between: the mode to choose where the scanner offers it. The port is opened exclusively (no other
process can read the codes) and read with a short timeout, so that a code cut off midway is noticed.
"""

from __future__ import annotations

from collections.abc import Callable

import serial


class SerialPort:
    """One opened serial scanner."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port

    def receive(self, timeout: float) -> bytes:
        self.port.timeout = timeout
        first = self.port.read(1)  # waits up to `timeout` for the first byte, then takes what else has come
        if not first:
            return b""
        waiting = self.port.in_waiting
        return first + (self.port.read(waiting) if waiting else b"")

    def close(self) -> None:
        self.port.close()


def serial_opener(device: str, baud: int) -> Callable[[], SerialPort]:
    def open_port() -> SerialPort:
        return SerialPort(serial.Serial(device, baudrate=baud, timeout=0.2, exclusive=True))

    return open_port
