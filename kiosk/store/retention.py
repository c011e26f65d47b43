"""Retention on the kiosk: events the centre has acknowledged are deleted once older than `store.retention_days`.

Only sent events go: an unsent or quarantined event is never deleted, whatever its age, because the centre does not
hold it. Age is judged only by time that can be trusted: nothing is deleted while the clock is unsynchronised (a
clock at 1970, or one jumped forward, cannot judge age), and an event's own recorded time counts only if the clock
was synchronised when it was recorded. Rows are in recording order by rowid (the store only appends, and SQLite
gives a new row a rowid above every row present, so a deleted one's is never taken by an older event). So the newest
event recorded with a synchronised clock before the cutoff bounds what is past retention: every event recorded
before it is older than the cutoff too, whatever its own clock said (a Pi without a real-time clock records 1970
until it synchronises). The time of acknowledgement (`sent_at`) is not used: the uploader stamps it with whatever
the clock says. Deleting does not free sequence numbers (boot_sequence keeps the last one of each boot).

Deleted rows are overwritten in the database file (SQLite's secure_delete), not just unlinked from the b-tree, so a
copied SD card's `events.db` does not keep subject keys past their retention. The write-ahead log still holds the
pages as they were before the purge until it is rewritten: `journal_size_limit` (WAL_LIMIT, also set by the store's
connections) cuts it back to 1 MiB whenever it restarts, which is below the ~4 MB (1000 pages) an autocheckpoint
lets it grow to, so each old frame is overwritten or cut off within about two checkpoints' worth of writes (a 4 MiB
limit left the frames past the 1000th stale for good). The work is done in small batches, each its
own transaction, and only a PASSIVE checkpoint is asked for, so that the frame loop's commits never wait long behind
it.
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

WAL_LIMIT = 1024 * 1024  # bytes the -wal file is cut back to when it restarts after a checkpoint

# The newest event recorded before the cutoff by a synchronised clock. The search stops at the oldest synchronised
# event still within retention (a forward scan over the few rows left from the last round), so it does not read the
# whole table every hour; a synchronised row older than the cutoff after it (a clock stepped back) waits a round.
_LAST_PAST = """
    SELECT MAX(rowid) FROM events WHERE clock_synced = 1 AND wall_time < :cutoff AND rowid < COALESCE(
        (SELECT rowid FROM events WHERE clock_synced = 1 AND wall_time >= :cutoff ORDER BY rowid LIMIT 1),
        9223372036854775807
    )
"""
# Oldest first (rowid order), so each batch is a short range scan.
_PURGE = """
    DELETE FROM events WHERE rowid IN (
        SELECT rowid FROM events
        WHERE rowid <= :last AND sent_at IS NOT NULL AND quarantined_at IS NULL
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
        conn.execute("PRAGMA secure_delete = ON")  # freed cells and pages are zeroed, not left readable
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
        with conn:  # sent visits go by the same age (their host, purpose and ID tail are personal data too)
            conn.execute("DELETE FROM visits WHERE sent_at IS NOT NULL AND opened_at < ?", [cutoff])
        (last,) = conn.execute(_LAST_PAST, {"cutoff": cutoff}).fetchone()
        if last is None:
            return 0
        removed = 0
        for _ in range(self.max_batches):
            with conn:  # one transaction per batch: the loop's commits wait at most one batch
                count = conn.execute(_PURGE, {"last": last, "batch": self.batch}).rowcount
            removed += count
            if count < self.batch:
                break
        if removed:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the zeroed pages reach the database file soon
            log.info("retention: deleted %d sent events older than %d days", removed, self.days)
        return removed
