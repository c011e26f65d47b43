"""A damaged event database at start: detected, set aside (never deleted), its unsent events salvaged.

`open_store` is what the assembly calls instead of `EventStore(path)`. It runs `PRAGMA quick_check` through a
read-only connection; a file SQLite calls corrupt or not a database is read row by row into a fresh store,
then renamed aside with its -wal and -shm files (`events.db.corrupt-<UTC time>`), and the fresh store takes
its place. Errors that are not damage (permissions, a full disk, a lock) are raised as they are: a healthy
file is never moved because the disk is full.

SQLite's own `.recover` belongs to its command-line shell, not to Python's module, so rows are read with
`rowid > ?` seeks, which descend the table's b-tree straight to a rowid and step over pages that cannot be read.
The order of the steps keeps a power cut at any point from losing what was salvaged: the fresh store is built
under a temporary name while the damaged file is still in place, and put in place only after the damaged file
was moved away; a start that finds the temporary file but no database finishes the rename.

A salvaged row joins the upload queue only if the centre would accept it (kiosk/store/eventrules.py): one garbled row
would otherwise have the centre refuse, and the kiosk quarantine, its whole batch. No sequence number is given
twice: each boot continues past the highest number any readable row or the sequence table shows, and the
current boot, when the sequence table could not be read whole, past a bound that holds whatever was lost (see
`_sequences`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiosk.clock import Clock, SystemClock
from kiosk.errors import StoreError
from kiosk.store.eventrules import MAX_SEQ, event_problem
from kiosk.store.events import EventStore, is_damage

log = logging.getLogger(__name__)

_SIDE = ("-wal", "-shm", "-journal")
_LAST_ROWID = 2**62
_COMMITS_PER_S = 1_000_000  # more commits than this cannot happen: each is a transaction synced to the disk

__all__ = ["Recovery", "RowReader", "find_damage", "is_damage", "open_store", "set_aside"]


@dataclass(frozen=True)
class Recovery:
    """What was done about a damaged event database at start (no personal data: counts and file names)."""

    problem: str  # what SQLite said about the file
    moved_to: Path  # the damaged file, kept for a technician
    salvaged: int  # unsent events copied into the fresh store, with their ids and sequence numbers
    unreadable_regions: int  # stretches of the events table that could not be read (their rows are lost here)
    garbled: int = 0  # unsent rows read but not of the form the centre accepts (not salvaged: lost here too)

    def summary(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "moved_to": self.moved_to.name,
            "salvaged": self.salvaged,
            "unreadable_regions": self.unreadable_regions,
            "garbled": self.garbled,
        }


def open_store(
    path: Path, *, clock: Clock | None = None, now: datetime | None = None
) -> tuple[EventStore, Recovery | None]:
    """The event store at `path`; a damaged file is first set aside and its readable unsent events salvaged.

    `clock` says which boot this is and how long it has run (the assembly hands in its own; the host's if none).
    """
    _finish_interrupted(path)
    problem = find_damage(path)
    if problem is None:
        return EventStore(path), None
    recovery = set_aside(path, problem, now or datetime.now(UTC), clock or SystemClock())
    log.error(
        "%s was damaged (%s): moved to %s, %d unsent events salvaged into a fresh database, %d unreadable regions,"
        " %d garbled rows left out",
        path,
        recovery.problem,
        recovery.moved_to.name,
        recovery.salvaged,
        recovery.unreadable_regions,
        recovery.garbled,
    )
    return EventStore(path), recovery


def find_damage(path: Path) -> str | None:
    """What is wrong with the database at `path`, or None if it is sound (or absent, or empty: a new one)."""
    if not path.exists() or (path.stat().st_size == 0 and not _has_content(_side(path, "-wal"))):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if is_damage(exc):
            return str(exc)
        raise StoreError(f"{path}: cannot check the event database: {exc}") from exc
    if rows == [("ok",)]:
        return None
    return "quick_check: " + "; ".join(str(r[0]) for r in rows[:3])


def set_aside(path: Path, problem: str, now: datetime, clock: Clock) -> Recovery:
    """Salvage `path`'s unsent events into a fresh store, move `path` aside, put the fresh store in its place."""
    fresh = _temporary(path)
    _remove_with_side_files(fresh)  # an earlier attempt cut short: the damaged file is still there, start over
    store = EventStore(fresh)
    try:
        salvaged, regions, garbled = _salvage(path, store, clock)
    finally:
        store.close()  # the last connection: its WAL is checkpointed into the file and removed
    moved_to = path.with_name(f"{path.name}.corrupt-{now.strftime('%Y%m%dT%H%M%SZ')}")
    # The -wal first: a WAL left beside a database that is not its own must never be replayed into it.
    for suffix in (*_SIDE, ""):
        source = _side(path, suffix)
        if source.exists():
            source.rename(_side(moved_to, suffix))
    fresh.rename(path)
    _sync_directory(path.parent)
    return Recovery(problem, moved_to, salvaged, regions, garbled)


def _salvage(damaged: Path, store: EventStore, clock: Clock) -> tuple[int, int, int]:
    """Copy the readable unsent events and sequence numbers of `damaged` into `store`, in one transaction.
    Returns (events salvaged, unreadable regions of the events table, garbled unsent rows left out)."""
    rows: list[dict[str, Any]] = []
    garbled = 0
    seen: dict[str, int] = {}  # the highest sequence number of each boot in any readable row, sent or not
    kept: dict[str, int] = {}  # the sequence table's rows that could be read
    regions, whole = 1, False
    try:
        source = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        log.error("%s: cannot be opened to salvage events (%s)", damaged, exc)
    else:
        source.row_factory = sqlite3.Row
        try:
            # NOTE: with writable_schema SQLite reads a file shorter than its header says (a truncated one) up
            # to its end instead of refusing it whole (lockBtree in btree.c); the connection is read-only.
            source.execute("PRAGMA writable_schema = ON")
            reader = RowReader(source, "events")
            for row in reader:
                _note(seen, row.get("boot_id"), row.get("seq"))
                if row.get("sent_at") is not None:
                    continue
                if event_problem(row) is None:
                    rows.append(row)
                else:
                    garbled += 1
            sequences = RowReader(source, "boot_sequence")
            for row in sequences:
                _note(kept, row.get("boot_id"), row.get("last_seq"))
            regions = reader.unreadable_regions
            whole = sequences.unreadable_regions == 0 and seen.keys() <= kept.keys()
        except sqlite3.Error as exc:  # e.g. writable_schema refused: nothing more can be read
            log.error("%s: salvage stopped early (%s)", damaged, exc)
        finally:
            source.close()
    return store.restore(rows, _sequences(seen, kept, whole, clock)), regions, garbled


class RowReader:
    """Every readable row of a table, in rowid order; unreadable stretches are stepped over and counted."""

    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn = conn
        # The table name is one of this module's constants, never input.
        self.query = f"SELECT rowid AS _rowid_, * FROM {table} WHERE rowid > ? ORDER BY rowid"  # noqa: S608
        self.unreadable_regions = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        after: int | None = 0  # the store's rowids count from 1
        while after is not None:
            try:
                for row in self.conn.execute(self.query, [after]):
                    after = int(row["_rowid_"])
                    yield dict(row)
                return
            except sqlite3.DatabaseError:
                self.unreadable_regions += 1
                after = self._next_readable(after)

    def _readable(self, after: int) -> bool:
        try:
            self.conn.execute(self.query + " LIMIT 1", [after]).fetchall()
        except sqlite3.DatabaseError:
            return False
        return True

    def _next_readable(self, after: int) -> int | None:
        """A rowid past `after` from which reading works again (None: nothing further can be read): doubling
        steps until a seek succeeds, then halving back to the edge of the unreadable stretch."""
        bad, step = after, 1
        while not self._readable(bad + step):
            if bad + step >= _LAST_ROWID:
                return None
            bad, step = bad + step, step * 2
        good = bad + step
        while good - bad > 1:
            middle = (bad + good) // 2
            bad, good = (bad, middle) if self._readable(middle) else (middle, good)
        return good


def _note(last: dict[str, int], boot: object, seq: object) -> None:
    """Count `seq` as used by `boot` (values a garbled row cannot have been given are passed over)."""
    if isinstance(boot, str) and type(seq) is int and 1 <= seq <= MAX_SEQ:
        last[boot] = max(last.get(boot, 0), seq)


def _sequences(seen: dict[str, int], kept: dict[str, int], whole: bool, clock: Clock) -> dict[str, int]:
    """The last sequence number used by each boot, so that none is given out twice after the salvage.

    Each boot continues past the highest number read anywhere. Numbers of lost rows are not above that as long
    as the sequence table was read `whole` (it is updated with every commit). When it was not, earlier boots
    need nothing more (a boot id never comes back), but this boot (the kiosk restarted, the kernel did not) may
    have given numbers in rows that are lost: it continues past the monotonic clock in microseconds, which
    counts from the OS boot (CLOCK_MONOTONIC) and so has passed more microseconds than commits were made.
    """
    last = dict(seen)
    for boot, seq in kept.items():
        last[boot] = max(last.get(boot, 0), seq)
    if not whole:
        floor = int(clock.monotonic() * _COMMITS_PER_S)
        last[clock.boot_id] = max(last.get(clock.boot_id, 0), floor)
    return last


def _finish_interrupted(path: Path) -> None:
    """A salvage cut short after the damaged file was moved away: put the salvaged store in its place."""
    fresh = _temporary(path)
    if not path.exists() and fresh.exists() and not _side(fresh, "-wal").exists():
        log.warning("%s: finishing a salvage interrupted at the last step", path)
        fresh.rename(path)
        _sync_directory(path.parent)


def _temporary(path: Path) -> Path:
    return path.with_name(f"{path.name}.salvaging")


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _has_content(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *_SIDE):
        _side(path, suffix).unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the renames themselves survive a power cut
    finally:
        os.close(fd)
