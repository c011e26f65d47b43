"""Schema migrations of the kiosk database, applied in order at open (sqlite-utils Migrations)."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("kiosk")


@migrations()
def m001_events(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            event_id     TEXT PRIMARY KEY,
            boot_id      TEXT NOT NULL,
            seq          INTEGER NOT NULL CHECK (seq > 0),
            wall_time    REAL NOT NULL,
            mono_time    REAL NOT NULL,
            clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1)),
            device_id    TEXT NOT NULL,
            venue        TEXT NOT NULL,
            direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            kind         TEXT NOT NULL,
            subject_key  TEXT,
            decision     TEXT NOT NULL CHECK (decision IN ('ACCEPT', 'DENY', 'REVIEW')),
            reason       TEXT NOT NULL,
            decoder      TEXT NOT NULL,
            latency_ms   REAL NOT NULL,
            sent_at      REAL,
            UNIQUE (boot_id, seq)
        )
        """
    )
    # The uploader reads unsent events in device order; a partial index stays small once most are sent.
    db.execute("CREATE INDEX events_unsent ON events (boot_id, seq) WHERE sent_at IS NULL")
    # The last sequence number per boot, kept apart from events so that purging sent events never reuses one.
    db.execute("CREATE TABLE boot_sequence (boot_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)")


@migrations()
def m002_passages_by_subject(db: Database) -> None:
    # Anti-passback asks for a subject's last accepted passage at a venue on every decision.
    db.execute(
        "CREATE INDEX events_subject ON events (subject_key, venue)"
        " WHERE subject_key IS NOT NULL AND decision = 'ACCEPT'"
    )


@migrations()
def m003_quarantine(db: Database) -> None:
    # A batch the server refuses as malformed is set aside (never deleted) instead of retried forever.
    db.execute("ALTER TABLE events ADD COLUMN quarantined_at REAL")
    db.execute("ALTER TABLE events ADD COLUMN quarantine_reason TEXT")
    db.execute("DROP INDEX events_unsent")
    db.execute("CREATE INDEX events_unsent ON events (boot_id, seq) WHERE sent_at IS NULL AND quarantined_at IS NULL")


@migrations()
def m004_visits(db: Database) -> None:
    # A visitor the guard let in (access mode): host and purpose, written with the visit-opened event in one
    # transaction, and uploaded after the events (the centre holds each visit once, by its id).
    db.execute(
        """
        CREATE TABLE visits (
            visit_id    TEXT PRIMARY KEY,
            event_id    TEXT NOT NULL,
            subject_key TEXT NOT NULL,
            host        TEXT NOT NULL,
            purpose     TEXT NOT NULL,
            id_tail     TEXT,
            opened_at   REAL NOT NULL,
            sent_at     REAL
        )
        """
    )
    db.execute("CREATE INDEX visits_unsent ON visits (opened_at) WHERE sent_at IS NULL")


@migrations()
def m005_venue(db: Database) -> None:
    # The venue's other gates' passages and the single-use claims granted to them (docs/venue-state.md): with the
    # kiosk's own events, the venue-wide history that anti-passback, single-use passes and occupancy read.
    db.execute(
        """
        CREATE TABLE venue_passages (
            event_id    TEXT PRIMARY KEY,
            device_id   TEXT NOT NULL,
            venue       TEXT NOT NULL,
            subject_key TEXT NOT NULL,
            direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            wall_time   REAL NOT NULL,
            kind        TEXT NOT NULL,
            reason      TEXT NOT NULL,
            received_at REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX venue_passages_subject ON venue_passages (subject_key, venue)")
    db.execute("CREATE INDEX venue_passages_time ON venue_passages (wall_time)")
    db.execute(
        """
        CREATE TABLE venue_claims (
            subject_key TEXT NOT NULL,
            venue       TEXT NOT NULL,
            device_id   TEXT NOT NULL,
            claimed_at  REAL NOT NULL,
            PRIMARY KEY (subject_key, venue)
        )
        """
    )
