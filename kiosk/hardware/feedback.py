"""The feedback seam. Every implementation returns at once: patterns run in the background."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from kiosk.events import Event
from kiosk.policy.messages import message

log = logging.getLogger("kiosk.decision")


class Feedback(Protocol):
    def signal(self, event: Event) -> None:
        """Show the decision of a committed event (and open the gate on ACCEPT). Must not block."""
        ...

    def fault(self, reason: str) -> None:
        """Show that the kiosk cannot work (store full, camera lost); the gate stays shut."""
        ...

    def close(self) -> None:
        """Release every output: lights off, relay released."""
        ...


class ConsoleFeedback:
    """One log line per decision, without personal data (no subject key, no text from the code)."""

    def signal(self, event: Event) -> None:
        log.info(
            "%s %s kind=%s seq=%d latency=%.1fms: %s",
            event.decision,
            event.reason,
            event.kind,
            event.seq,
            event.latency_ms,
            message(event.reason, "vi"),
        )

    def fault(self, reason: str) -> None:
        log.error("FAULT %s", reason)

    def close(self) -> None:
        pass


class FeedbackFanout:
    """Several feedbacks as one; a failing output is logged and does not stop the others or the loop."""

    def __init__(self, outputs: Sequence[Feedback]) -> None:
        self.outputs = list(outputs)

    def signal(self, event: Event) -> None:
        self._each(lambda output: output.signal(event))

    def fault(self, reason: str) -> None:
        self._each(lambda output: output.fault(reason))

    def close(self) -> None:
        self._each(lambda output: output.close())

    def _each(self, call: Callable[[Feedback], None]) -> None:
        for output in self.outputs:
            try:
                call(output)
            except Exception:
                log.exception("feedback %s failed", type(output).__name__)
