"""EventStore: one SQLite file in WAL mode with synchronous=FULL, so a committed decision survives a power cut.

`record` returns only once the event is durable on disk; the loop opens the gate after it returns, never before.
One connection per thread: the loop has its own, the uploader opens another.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from kiosk.clock import Clock
from kiosk.errors import StoreError
from kiosk.events import Event, Visit
from kiosk.store.schema import migrations

_COLUMNS = [f.name for f in dataclasses.fields(Event)]
# The column names come from the Event dataclass, never from input.
_VISIT_COLUMNS = [f.name for f in dataclasses.fields(Visit)]
_INSERT_VISIT = (
    f"INSERT INTO visits ({', '.join(_VISIT_COLUMNS)}) VALUES ({', '.join(':' + c for c in _VISIT_COLUMNS)})"  # noqa: S608
)
_INSERT = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)})"  # noqa: S608
_DAMAGE_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")  # and their extended forms (SQLITE_CORRUPT_INDEX, ...)
_KEPT = ("sent_at", "quarantined_at", "quarantine_reason")  # kept apart from the Event: the upload state
_NEXT_SEQ = """
    INSERT INTO boot_sequence (boot_id, last_seq) VALUES (?, 1)
    ON CONFLICT (boot_id) DO UPDATE SET last_seq = last_seq + 1
    RETURNING last_seq
"""


@dataclass(frozen=True)
class StoreStatus:
    """What `kiosk status` shows: counts and recent decisions, without personal data."""

    events: int
    unsent: int  # waiting for upload (quarantined ones are counted apart)
    oldest_unsent: float | None  # wall time of the oldest event not yet acknowledged by the server
    recent: list[dict[str, Any]]
    quarantined: int = 0


class EventStore:
    """The kiosk's durable buffer of events."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        try:
            self._db = Database(_connect(path, read_only), execute_plugins=False, recursive_triggers=False)
            if not read_only:
                migrations.apply(self._db)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the event database: {exc}", damaged=is_damage(exc)) from exc

    def record(self, event: Event, visit: Visit | None = None) -> Event:
        """Commit `event` durably (with the visit it opens, if any), giving it the next sequence number of its
        boot; returns it as stored."""
        try:
            with self._db.atomic():
                (seq,) = self._db.execute(_NEXT_SEQ, [event.boot_id]).fetchone()
                stored = dataclasses.replace(event, seq=seq)
                self._db.execute(_INSERT, stored.as_row())
                if visit is not None:
                    self._db.execute(_INSERT_VISIT, visit.as_row())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: event not recorded: {_explain(exc)}", damaged=is_damage(exc)) from exc
        return stored

    def status(self, recent: int = 10) -> StoreStatus:
        """Counts and the last `recent` decisions (time, kind, outcome, reason; no subject keys)."""
        try:
            events, unsent, oldest, quarantined = self._db.execute(
                "SELECT COUNT(*), COUNT(CASE WHEN sent_at IS NULL AND quarantined_at IS NULL THEN 1 END),"
                " MIN(CASE WHEN sent_at IS NULL AND quarantined_at IS NULL THEN wall_time END),"
                " COUNT(quarantined_at) FROM events"
            ).fetchone()
            rows = self._db.query(
                "SELECT seq, wall_time, clock_synced, direction, kind, decision, reason, latency_ms"
                " FROM events ORDER BY rowid DESC LIMIT ?",
                [recent],
            )
            return StoreStatus(events, unsent, oldest, list(rows), quarantined)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot read status: {_explain(exc)}", damaged=is_damage(exc)) from exc

    def unsent(self, limit: int = 500) -> list[Event]:
        """The oldest events not yet acknowledged by the server (and not quarantined), in device order."""
        with self._failing("cannot read the upload queue"):
            rows = self._db.query(
                f"SELECT {', '.join(_COLUMNS)} FROM events WHERE sent_at IS NULL AND quarantined_at IS NULL"  # noqa: S608
                " ORDER BY rowid LIMIT ?",  # the columns are the Event fields, fixed above
                [limit],
            )
            return [Event(**{**row, "clock_synced": bool(row["clock_synced"])}) for row in rows]

    def mark_sent(self, event_ids: Iterable[str], at: float) -> int:
        """Mark events the server has acknowledged; returns how many were newly marked."""
        ids = list(event_ids)
        with (
            self._failing("acknowledged events not marked sent (they go again; the server holds them once)"),
            self._db.atomic(),
        ):
            cursor = self._db.conn.executemany(
                "UPDATE events SET sent_at = ? WHERE event_id = ? AND sent_at IS NULL", [(at, i) for i in ids]
            )
        return cursor.rowcount

    def unsent_visits(self, limit: int = 500) -> list[Visit]:
        """Visits not yet acknowledged by the centre, oldest first."""
        with self._failing("cannot read the visits to upload"):
            rows = self._db.query(
                f"SELECT {', '.join(_VISIT_COLUMNS)} FROM visits WHERE sent_at IS NULL"  # noqa: S608
                " ORDER BY opened_at LIMIT ?",  # the columns are the Visit fields, fixed above
                [limit],
            )
            return [Visit(**row) for row in rows]

    def mark_visits_sent(self, visit_ids: Iterable[str], at: float) -> int:
        with (
            self._failing("acknowledged visits not marked sent (they go again; the centre holds them once)"),
            self._db.atomic(),
        ):
            cursor = self._db.conn.executemany(
                "UPDATE visits SET sent_at = ? WHERE visit_id = ? AND sent_at IS NULL", [(at, i) for i in visit_ids]
            )
        return cursor.rowcount

    def quarantine(self, event_ids: Iterable[str], at: float, reason: str) -> int:
        """Set events aside that the server refused as malformed: kept, not sent again until released."""
        with self._failing("refused events not set aside"), self._db.atomic():
            cursor = self._db.conn.executemany(
                "UPDATE events SET quarantined_at = ?, quarantine_reason = ? WHERE event_id = ? AND sent_at IS NULL",
                [(at, reason[:200], i) for i in event_ids],
            )
        return cursor.rowcount

    def release_quarantine(self) -> int:
        """Put every quarantined event back in the upload queue (after the cause was fixed)."""
        with self._failing("quarantined events not released"), self._db.atomic():
            cursor = self._db.execute(
                "UPDATE events SET quarantined_at = NULL, quarantine_reason = NULL WHERE quarantined_at IS NOT NULL"
            )
        return cursor.rowcount

    def oldest_unsent_age(self, clock: Clock) -> float | None:
        """Seconds since the oldest event waiting for upload was recorded; None if none waits.

        An event of this boot is aged by the monotonic clock, right whatever the wall clock says (a Pi without a
        real-time clock starts at 1970 or at its last shutdown). One of an earlier boot is aged by the wall clocks
        when both were synchronised; otherwise its age is unknown, and this boot's uptime is what is sure: it is
        at least that old.
        """
        with self._failing("cannot read the upload queue's age"):
            row = self._db.execute(
                "SELECT boot_id, mono_time, wall_time, clock_synced FROM events"
                " WHERE sent_at IS NULL AND quarantined_at IS NULL ORDER BY rowid LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        boot_id, mono_time, wall_time, synced = row
        if boot_id == clock.boot_id:
            return max(0.0, clock.monotonic() - float(mono_time))
        if synced and clock.synchronised():
            return max(0.0, clock.wall() - float(wall_time))
        return max(0.0, clock.monotonic())

    def last_accepted(self, subject_key: str, venue: str) -> tuple[str, float] | None:
        """(direction, wall time) of the subject's last accepted passage at `venue`, here or at the venue's other
        gates (as far as they told this one, docs/venue-state.md); by wall time across gates, this one's first."""
        with self._failing("cannot read the last passage"):
            own = self._db.execute(
                "SELECT direction, wall_time FROM events WHERE subject_key = ? AND venue = ? AND decision = 'ACCEPT'"
                " ORDER BY rowid DESC LIMIT 1",
                [subject_key, venue],
            ).fetchone()
            peer = self._db.execute(
                "SELECT direction, wall_time FROM venue_passages WHERE subject_key = ? AND venue = ?"
                " ORDER BY wall_time DESC LIMIT 1",
                [subject_key, venue],
            ).fetchone()
        last = own if peer is None or (own is not None and own[1] >= peer[1]) else peer
        return None if last is None else (last[0], last[1])

    def entered(self, subject_key: str, venue: str) -> bool:
        """Whether the subject was let in at `venue` (a single-use pass's use): here, at another of the venue's
        gates, or granted to another gate that claimed it first."""
        with self._failing("cannot read the passages"):
            row = self._db.execute(
                "SELECT 1 FROM events"
                " WHERE subject_key = :k AND venue = :v AND decision = 'ACCEPT' AND direction = 'in'"
                " UNION ALL SELECT 1 FROM venue_passages WHERE subject_key = :k AND venue = :v AND direction = 'in'"
                " UNION ALL SELECT 1 FROM venue_claims WHERE subject_key = :k AND venue = :v LIMIT 1",
                {"k": subject_key, "v": venue},
            ).fetchone()
        return row is not None

    def restore(self, rows: Iterable[dict[str, Any]], last_seq: dict[str, int]) -> int:
        """Take in events salvaged from a damaged database, with their ids, sequence numbers and upload state,
        and each boot's last sequence number; in one transaction. Returns how many were taken in."""
        columns = [*_COLUMNS, *_KEPT]
        insert = (  # the column names are the Event fields and _KEPT, never input
            f"INSERT OR IGNORE INTO events ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"  # noqa: S608
        )
        with self._failing("salvaged events not taken in"), self._db.atomic():
            taken = 0
            for row in rows:
                values = {c: row.get(c) for c in columns} | {"clock_synced": int(bool(row["clock_synced"]))}
                taken += self._db.execute(insert, values).rowcount
            self._db.conn.executemany(
                "INSERT INTO boot_sequence (boot_id, last_seq) VALUES (?, ?)"
                " ON CONFLICT (boot_id) DO UPDATE SET last_seq = MAX(last_seq, excluded.last_seq)",
                list(last_seq.items()),
            )
        return taken

    def integrity_ok(self) -> bool:
        """PRAGMA integrity_check says ok."""
        with self._failing("integrity not checked"):
            return [tuple(r) for r in self._db.execute("PRAGMA integrity_check").fetchall()] == [("ok",)]

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """SQLite's errors as a StoreError that says which file and what was not done."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {what}: {_explain(exc)}", damaged=is_damage(exc)) from exc


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=5)
    (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
    if mode != "wal":  # e.g. a filesystem without shared memory: say so rather than run without WAL
        conn.close()
        raise sqlite3.OperationalError(f"WAL journal not available here (got {mode!r})")
    # NOTE: in WAL mode, synchronous=FULL syncs the WAL on every commit, so a commit that returned survives
    # a power cut; NORMAL would only protect the file's consistency, not the last transactions.
    conn.execute("PRAGMA synchronous=FULL")
    # Privacy: what an update moves or frees is zeroed (not every SQLite build has this on by default), and the
    # -wal file is cut back to 1 MiB when it restarts; below the ~4 MB an autocheckpoint lets it reach, so every
    # old frame is overwritten or cut off as the kiosk writes on (see kiosk/store/retention.py).
    conn.execute("PRAGMA secure_delete=ON")
    conn.execute("PRAGMA journal_size_limit=1048576")
    return conn


def is_damage(exc: BaseException) -> bool:
    """True for SQLite's errors that mean a damaged file (not a lock, a full disk or a permission)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    return name.startswith(_DAMAGE_CODES)


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "full" in text:
        return f"{text} (free space on the state directory's filesystem)"
    if "readonly" in text or "read-only" in text:
        return f"{text} (the state directory must be writable by the kiosk user)"
    return text
