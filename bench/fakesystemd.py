"""Just enough of systemd's service manager to time what kiosk.service does: a notify socket, the service
started as a child with $NOTIFY_SOCKET and $WATCHDOG_USEC set, READY=1 awaited, the watchdog timer enforced
the way systemd enforces WatchdogSec (no WATCHDOG=1 within the interval: SIGABRT, systemd's default
WatchdogSignal), and the stop sequence of KillMode=mixed (SIGTERM, SIGKILL after a timeout).

Used by bench/cold_start.py and bench/watchdog_restart.py; it times the kiosk's side only, since the real
systemd adds its own fork/exec and cgroup set-up (a few milliseconds) on top.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


class ServiceManager:
    def __init__(self, directory: Path, command: list[str], env: dict[str, str], watchdog_s: float = 0.0) -> None:
        self.path = directory / "notify.sock"
        self.path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.command = command
        self.env = env
        self.watchdog_s = watchdog_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_feed = 0.0
        self.statuses: list[str] = []

    def start(self, timeout: float = 60.0) -> float:
        """Start the service; returns the seconds until READY=1 (raises if it exits or times out first)."""
        env = {**os.environ, **self.env, "NOTIFY_SOCKET": str(self.path)}
        if self.watchdog_s:
            env["WATCHDOG_USEC"] = str(int(self.watchdog_s * 1e6))
        started = time.monotonic()
        self.proc = subprocess.Popen(self.command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while time.monotonic() - started < timeout:
            for line in self.receive(0.05):
                if line == "READY=1":
                    self.last_feed = time.monotonic()
                    return self.last_feed - started
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command}: exited with {self.proc.returncode} before READY=1")
        raise RuntimeError(f"{self.command}: no READY=1 within {timeout} s")

    def receive(self, wait: float) -> list[str]:
        """The lines received within `wait` seconds (returns early after the first datagram)."""
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return []
        lines = data.decode().splitlines()
        if "WATCHDOG=1" in lines:
            self.last_feed = time.monotonic()
        self.statuses += [line for line in lines if line.startswith("STATUS=")]
        return lines

    def watch(self, limit: float) -> float | None:
        """Enforce the watchdog for up to `limit` seconds; returns when it fired (SIGABRT sent), else None."""
        until = time.monotonic() + limit
        while time.monotonic() < until:
            self.receive(0.02)
            if time.monotonic() - self.last_feed > self.watchdog_s:
                assert self.proc is not None
                self.proc.send_signal(signal.SIGABRT)
                return time.monotonic()
        return None

    def stop(self, timeout: float = 15.0) -> float:
        """SIGTERM, then SIGKILL after `timeout` (KillMode=mixed); returns the seconds until it exited."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started

    def wait_exit(self, timeout: float = 15.0) -> float:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.wait(timeout)
        return time.monotonic() - started

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
