"""The systemd notify protocol (sd_notify(3)), spoken directly: a datagram to $NOTIFY_SOCKET per message.

READY=1 once the camera and the database are open, WATCHDOG=1 from the frame loop, STATUS= for
`systemctl status`, STOPPING=1 on the way out. Without $NOTIFY_SOCKET (not under systemd) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + path[1:] if path.startswith("@") else path  # "@name": the abstract namespace
        watchdog_usec = env.get("WATCHDOG_USEC", "")
        for_us = env.get("WATCHDOG_PID", str(os.getpid())) == str(os.getpid())
        self.watchdog_s = int(watchdog_usec) / 1e6 if watchdog_usec.isdigit() and for_us else 0.0
        self._clock = clock
        self._fed = float("-inf")
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def ready(self, status: str = "") -> None:
        self.send("READY=1", f"STATUS={status}" if status else "", f"MAINPID={os.getpid()}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def watchdog(self) -> None:
        """Feed the watchdog, at most twice per interval (called with every frame)."""
        if not self.watchdog_s:
            return
        now = self._clock()
        if now - self._fed >= self.watchdog_s / 4:
            self._fed = now
            self.send("WATCHDOG=1")

    def send(self, *lines: str) -> None:
        if not self.address:
            return
        message = "\n".join(line for line in lines if line).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto(message, self.address)
        except OSError as exc:  # systemd gone or the socket full: the service goes on; say it once
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.address.lstrip("\0"), exc)
                self._warned = True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
