"""Logging that never stalls the frame loop and never floods the journal.

Records go through a queue to a listener thread that writes them (to stderr, which journald collects under
systemd), so a slow or blocked journal cannot hold up a decision. A fault repeating on every frame is logged
once, then summarised every few seconds.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
from collections import deque

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Under systemd, stderr goes to journald: no timestamp (journald adds its own), and the syslog priority as the
# "<N>" prefix journald understands, so `journalctl -p warning -u kiosk` finds the warnings.
_JOURNAL_FORMAT = "<%(priority)d>%(name)s: %(message)s"
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.priority = _PRIORITY.get(record.levelno, 6)
        # One journal entry per record: a traceback's lines are joined, not split into entries of their own.
        return super().format(record).replace("\n", " | ")


class LogRing(logging.Handler):
    """The last lines logged, in memory, for a technician who asks from the centre (remote diagnostics): what
    the journal has, without the journal's permissions. The logs carry no personal data (no QR text, name or ID
    number is ever logged), so neither does this."""

    def __init__(self, capacity: int = 1000) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(_FORMAT))
        self._lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).replace("\n", " | ")[:2000]
        except Exception:  # a record that cannot be formatted is dropped here, as logging does
            return
        with self._guard:
            self._lines.append(line)

    def last(self, count: int) -> list[str]:
        with self._guard:
            return list(self._lines)[-count:] if count > 0 else []


RECENT = LogRing()
"""The process's recent log lines (every record that reaches the root logger through setup_logging)."""


def setup_logging(level: str) -> None:
    """Route the root logger through a queue to stderr (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level)
    if any(isinstance(h, logging.handlers.QueueHandler) for h in root.handlers):
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(
        _JournalFormatter(_JOURNAL_FORMAT) if os.environ.get("JOURNAL_STREAM") else logging.Formatter(_FORMAT)
    )
    listener = logging.handlers.QueueListener(records, writer, RECENT)
    listener.start()
    atexit.register(listener.stop)  # flushes what is queued before the process exits
    root.handlers = [logging.handlers.QueueHandler(records)]


class Throttle:
    """Logs the first occurrence of each kind of trouble at once, then one line per `every_s` with a count."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def error(self, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        self.log(logging.ERROR, key, message, *args, exc_info=exc_info)

    def warning(self, key: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, key, message, *args)

    def info(self, key: str, message: str, *args: object) -> None:
        self.log(logging.INFO, key, message, *args)

    def log(self, level: int, key: str, message: str, *args: object, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < self.every_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        again = self._suppressed.pop(key, 0)
        suffix = f" (and {again} more like it since the last report)" if again else ""
        self.logger.log(level, message + suffix, *args, exc_info=exc_info)
        self._last[key] = now
