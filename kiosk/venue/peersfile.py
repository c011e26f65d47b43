"""The venue's other gates as the centre listed them (`peers.json`, written by sync with the other lists): read
again only when the file changed, so that checking each message's signature costs a stat, not a parse."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from kiosk.venue.protocol import Peer, peers_from_json

log = logging.getLogger(__name__)


class PeersFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._peers: dict[str, Peer] = {}

    def current(self) -> dict[str, Peer]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._peers = peers_from_json(json.loads(self.path.read_text(encoding="utf-8")))
                except (OSError, ValueError) as exc:
                    log.error("%s: unreadable (%s); keeping the venue's gates known before", self.path, exc)
                self._stamp = stamp
            return self._peers
