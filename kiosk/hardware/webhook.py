"""An HTTP call per decision, for turnstile controllers and building systems that take one.

Calls go through a bounded queue to a thread of their own: a slow or dead receiver never holds up the gate.
A full queue drops the call (counted and logged); there is no retry: the event itself is safe in the store and
reaches the centre by sync, this is only a notification. No subject key, name or code text is sent.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from typing import Any

import requests

from kiosk.config.outputs import WebhookConfig
from kiosk.events import Event
from kiosk.logs import Throttle

log = logging.getLogger(__name__)


class WebhookFeedback:
    def __init__(self, config: WebhookConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.session = session or requests.Session()
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=config.queue)
        self._throttle = Throttle(log, every_s=60.0)
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def signal(self, event: Event) -> None:
        self._put(payload(event))

    def fault(self, reason: str) -> None:
        self._put({"fault": reason, "time": datetime.now(UTC).isoformat()})

    def close(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            self._queue.get_nowait()
            self._queue.put_nowait(None)
        self._thread.join(timeout=self.config.timeout_s + 1)

    def _put(self, body: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.dropped += 1
            self._throttle.error("full", "webhook receiver too slow: %d calls dropped so far", self.dropped)

    def _run(self) -> None:
        while (body := self._queue.get()) is not None:
            try:
                answer = self.session.post(
                    self.config.url, json=body, headers=self.config.headers, timeout=self.config.timeout_s
                )
                answer.raise_for_status()
                self.sent += 1
            except requests.RequestException as exc:
                self.failed += 1
                self._throttle.error("post", "webhook call failed: %s", type(exc).__name__)


def payload(event: Event) -> dict[str, Any]:
    """What the receiver gets: the decision and where, never who."""
    return {
        "event_id": event.event_id,
        "device": event.device_id,
        "venue": event.venue,
        "direction": event.direction,
        "decision": event.decision,
        "reason": event.reason,
        "kind": event.kind,
        "time": datetime.fromtimestamp(event.wall_time, UTC).isoformat(),
        "time_synced": event.clock_synced,
    }
