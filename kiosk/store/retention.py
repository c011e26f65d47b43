"""Retention on the kiosk: events the centre has acknowledged are deleted once older than `store.retention_days`.

Only sent events go: an unsent or quarantined event is never deleted, whatever its age, because the centre does
not hold it. An event goes when both its recorded time and the time it was acknowledged are older than the
cutoff, and only while the clock is synchronised: a clock at 1970, or one jumped forward, cannot judge age.
Deleting does not free sequence numbers (boot_sequence keeps the last one of each boot).

Deleted rows are overwritten on disk (SQLite's secure_delete), not just unlinked from the b-tree, so a copied
SD card does not keep subject keys past their retention. The work is done in small batches, each its own
transaction, so that the frame loop's commits never wait long behind it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import StoreError

log = logging.getLogger(__name__)
DAY_S = 86400.0
BATCH = 500
MAX_BATCHES = 200  # at most 100,000 events in one round; the rest in the next
EVERY_S = 3600.0

# Rows are in recording order by rowid, so the oldest candidates come first and the scan stops after `batch`.
_PURGE = """
    DELETE FROM events WHERE rowid IN (
        SELECT rowid FROM events
        WHERE sent_at IS NOT NULL AND quarantined_at IS NULL AND sent_at < :cutoff AND wall_time < :cutoff
        ORDER BY rowid LIMIT :batch
    )
"""


@dataclass(frozen=True)
class Retention:
    """Deletes sent events older than `days` from the database at `path` (its own connection, per round)."""

    path: Path
    days: int
    batch: int = BATCH
    max_batches: int = MAX_BATCHES

    def cutoff(self, now: float) -> float:
        return now - self.days * DAY_S

    def purge(self, now: float, *, clock_synced: bool) -> int:
        """Delete what is past retention at wall time `now`; how many events. Nothing while the clock is unsure."""
        if not clock_synced:
            return 0
        try:
            conn = sqlite3.connect(self.path, timeout=5)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the event database for retention: {exc}") from exc
        try:
            return self._purge(conn, self.cutoff(now))
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: retention purge failed: {exc}") from exc
        finally:
            conn.close()

    def _purge(self, conn: sqlite3.Connection, cutoff: float) -> int:
        conn.execute("PRAGMA secure_delete = ON")  # freed cells are zeroed, not left readable in free space
        removed = 0
        for _ in range(self.max_batches):
            with conn:  # one transaction per batch: the loop's commits wait at most one batch
                count = conn.execute(_PURGE, {"cutoff": cutoff, "batch": self.batch}).rowcount
            removed += count
            if count < self.batch:
                break
        if removed:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the zeroed pages reach the database file soon
            log.info("retention: deleted %d sent events older than %d days", removed, self.days)
        return removed
