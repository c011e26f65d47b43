"""Answering a technician's request for diagnostics through the sync channel (the centre cannot call a kiosk).

The config document names a pending request ({"id", "log_lines"}); the kiosk runs it once (the runner is the
assembly's: the doctor lives above sync) and posts the answer; an answer the centre did not take is posted
again at the next pull. The id last answered is kept on disk, so a restart does not answer twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.sync.client import CentralClient
from kiosk.sync.identity import write_atomic

log = logging.getLogger(__name__)
ANSWERED_FILE = "diagnostics-answered"

Runner = Callable[[dict[str, Any]], dict[str, Any]]


class Diagnostics:
    def __init__(self, state_dir: Path, client: CentralClient, run: Runner) -> None:
        self.state_dir = state_dir
        self.client = client
        self.run = run
        self._pending: dict[str, Any] | None = None
        self._answer: dict[str, Any] | None = None

    def remember(self, document: dict[str, Any]) -> None:
        request = document.get("diagnostics")
        if isinstance(request, dict) and isinstance(request.get("id"), str) and request["id"] != self._answered():
            self._pending = request

    def answer(self) -> bool:
        """Run the pending request (once) and post its answer; True when the centre took it. Errors of the
        centre propagate (Retryable, Refused, Revoked), for the caller's backoff."""
        if self._pending is None:
            return False
        if self._answer is None or self._answer.get("id") != self._pending["id"]:
            log.info("diagnostics asked by the centre: running the doctor")
            self._answer = self.run(self._pending)
        self.client.diagnostics(self._answer)
        write_atomic(self.state_dir / ANSWERED_FILE, json.dumps(self._pending["id"]).encode())
        self._pending = self._answer = None
        return True

    def _answered(self) -> str | None:
        try:
            value = json.loads((self.state_dir / ANSWERED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, str) else None
