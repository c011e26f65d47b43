"""Housekeeping in the server process: partitions made ahead every day, events past retention removed."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Engine

from central.partitions import ensure_partitions, purge_before
from central.timeutil import utcnow

log = logging.getLogger(__name__)
EVERY_S = 3600.0


class Maintenance:
    def __init__(self, engine: Engine, retention_days: int | None) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)

    def start(self) -> None:
        self.run_once()  # partitions for today exist before the first upload
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> None:
        today = utcnow().date()
        made = ensure_partitions(self.engine, today)
        if made:
            log.info("made partitions %s", ", ".join(made))
        if self.retention_days:
            removed = purge_before(self.engine, today - timedelta(days=self.retention_days))
            if removed:
                log.info("retention: removed %d partitions or rows older than %d days", removed, self.retention_days)

    def _run(self) -> None:
        while not self._stop.wait(EVERY_S):
            try:
                self.run_once()
            except Exception:  # a failed round is retried an hour later; serving goes on
                log.exception("maintenance failed")
