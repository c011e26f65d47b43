"""The venue's other gates, as this kiosk knows them (docs/venue-state.md): their passages, and the single-use
claims this kiosk granted them. Written by the venue thread and the peer server, each call on a connection of its
own (WAL: the loop's commits never wait on it for more than a statement); read by the loop through EventStore.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.errors import StoreError
from kiosk.store.events import is_damage

KEEP_S = 86400.0  # a day: what anti-passback, occupancy and a day's single-use passes need
_KEY = re.compile(r"[0-9a-f]{32}")
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


@dataclass(frozen=True, slots=True)
class Passage:
    """An ACCEPT passage at one of the venue's gates: what another gate needs of it, and nothing more."""

    event_id: str
    device_id: str
    venue: str
    subject_key: str
    direction: str
    wall_time: float
    kind: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "device_id": self.device_id,
            "venue": self.venue,
            "subject_key": self.subject_key,
            "direction": self.direction,
            "wall_time": self.wall_time,
            "kind": self.kind,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, item: object) -> Passage | None:
        """A passage from another gate or the centre, or None if any field is not what a kiosk writes."""
        if not isinstance(item, dict):
            return None
        texts = [item.get(k) for k in ("event_id", "device_id", "venue", "subject_key", "direction", "kind", "reason")]
        wall = item.get("wall_time")
        if not all(isinstance(t, str) for t in texts) or not isinstance(wall, int | float) or isinstance(wall, bool):
            return None
        event_id, device, venue, key, direction, kind, reason = (str(t) for t in texts)
        if not (_ID.fullmatch(event_id) and _ID.fullmatch(device) and _ID.fullmatch(venue) and _KEY.fullmatch(key)):
            return None
        if direction not in ("in", "out") or len(kind) > 16 or len(reason) > 48 or not 0 < wall < 2**33:
            return None
        return cls(event_id, device, venue, key, direction, float(wall), kind, reason)


class VenueBook:
    def __init__(self, path: Path, device_id: str, venue: str) -> None:
        self.path = path
        self.device_id = device_id
        self.venue = venue

    def hold(self, passages: Iterable[Passage], now: float) -> int:
        """Keep the passages of this venue's other gates not held yet; how many were new."""
        rows = [
            (p.event_id, p.device_id, p.venue, p.subject_key, p.direction, p.wall_time, p.kind, p.reason, now)
            for p in passages
            if p.venue == self.venue and p.device_id != self.device_id and p.wall_time > now - KEEP_S
        ]
        with self._connection("passages of the venue's other gates not kept") as conn, conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO venue_passages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            return conn.total_changes - before

    def grant(self, subject_key: str, device_id: str, now: float) -> str | None:
        """Another gate claims the first entry on a single-use pass: None if granted (and recorded, so that a third
        gate is told it is used; the same gate asking again is granted again), else the gate that has it."""
        with self._connection("a single-use claim not answered", autocommit=True) as conn, conn:
            conn.execute("BEGIN IMMEDIATE")  # the check and the record as one: two gates asking at once get one yes
            if _entered_here(conn, subject_key, self.venue):
                return self.device_id
            row = conn.execute(
                "SELECT device_id FROM venue_passages WHERE subject_key = ? AND venue = ? AND direction = 'in'"
                " UNION ALL SELECT device_id FROM venue_claims WHERE subject_key = ? AND venue = ? LIMIT 1",
                [subject_key, self.venue, subject_key, self.venue],
            ).fetchone()
            if row is not None and row[0] != device_id:
                return str(row[0])
            conn.execute(
                "INSERT OR IGNORE INTO venue_claims VALUES (?, ?, ?, ?)", [subject_key, self.venue, device_id, now]
            )
            return None

    def own_after(self, rowid: int, limit: int = 500) -> tuple[list[Passage], int]:
        """This gate's ACCEPT passages recorded after `rowid` (for pushing to a peer), and the last rowid read."""
        with self._connection("this gate's passages not read") as conn:
            rows = conn.execute(
                "SELECT rowid, event_id, device_id, venue, subject_key, direction, wall_time, kind, reason FROM events"
                " WHERE rowid > ? AND decision = 'ACCEPT' AND subject_key IS NOT NULL ORDER BY rowid LIMIT ?",
                [rowid, limit],
            ).fetchall()
        last = rows[-1][0] if rows else rowid
        return [Passage(*row[1:]) for row in rows], last

    def first_rowid_since(self, wall: float) -> int:
        """The rowid before this gate's first passage at or after `wall`: where a returning peer is sent from."""
        with self._connection("this gate's passages not read") as conn:
            row = conn.execute("SELECT MIN(rowid) FROM events WHERE wall_time >= ?", [wall]).fetchone()
        return int(row[0]) - 1 if row and row[0] is not None else self.last_rowid()

    def last_rowid(self) -> int:
        with self._connection("this gate's passages not read") as conn:
            row = conn.execute("SELECT MAX(rowid) FROM events").fetchone()
        return int(row[0] or 0)

    def occupancy(self, since: float) -> int:
        """People inside now: those whose last passage since `since` (the start of the local day), at any of the
        venue's gates this one knows of, was in."""
        with self._connection("occupancy not read") as conn:
            row = conn.execute(
                """
                WITH passages AS (
                    SELECT subject_key, direction, wall_time FROM events
                    WHERE decision = 'ACCEPT' AND subject_key IS NOT NULL AND venue = :venue AND wall_time >= :since
                    UNION ALL
                    SELECT subject_key, direction, wall_time FROM venue_passages
                    WHERE venue = :venue AND wall_time >= :since
                ), last AS (
                    SELECT subject_key, direction, ROW_NUMBER() OVER (
                        PARTITION BY subject_key ORDER BY wall_time DESC
                    ) AS n FROM passages
                )
                SELECT COUNT(*) FROM last WHERE n = 1 AND direction = 'in'
                """,
                {"venue": self.venue, "since": since},
            ).fetchone()
        return int(row[0])

    def purge(self, now: float) -> int:
        """Forget what is older than a day."""
        with self._connection("old passages of other gates not removed") as conn, conn:
            removed = conn.execute("DELETE FROM venue_passages WHERE wall_time < ?", [now - KEEP_S]).rowcount
            removed += conn.execute("DELETE FROM venue_claims WHERE claimed_at < ?", [now - KEEP_S]).rowcount
        return removed

    @contextmanager
    def _connection(self, what: str, *, autocommit: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection for one call; `autocommit` for a call that opens its own (immediate) transaction."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None if autocommit else "DEFERRED")
            conn.execute("PRAGMA busy_timeout = 5000")
            yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {what}: {exc}", damaged=is_damage(exc)) from exc
        finally:
            if conn is not None:
                conn.close()


def _entered_here(conn: sqlite3.Connection, subject_key: str, venue: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM events WHERE subject_key = ? AND venue = ? AND decision = 'ACCEPT' AND direction = 'in' LIMIT 1",
        [subject_key, venue],
    ).fetchone()
    return row is not None
