"""Events and their claims keyed by venue, as Citus needs of tables distributed by venue (issue 18, docs/scale.md,
"Past one node: the Citus layout"): `events` (event_id, received_day) becomes (event_id, venue_id, received_day),
and `event_keys` gains `venue_id` with the key (event_id, venue_id). The event id leads both keys so that a
look-up by id alone (the feed's, ingest's check that no other venue holds an id) still reads one index range.

Each claim takes the venue of its event (same id, same received day). A claim with no event (ingest never makes
one; a hand-made import might) takes venue 0, so that it still stops its id from being stored: ingest looks for
an id at every venue before it claims it (central/ingest.py).

PostgreSQL, in the one transaction alembic runs: `events` is locked in SHARE mode (writes wait, reads go on) while
`event_keys`, locked whole, is copied into a new table with its venue, its indexes then built in one pass (an
UPDATE of every row would leave as many dead rows behind and grow both indexes by random inserts); then `events`
changes its primary key, which rebuilds the key's index on every partition under an ACCESS EXCLUSIVE lock (reads
wait too) until the commit. docs/scale.md gives the time, the locks and the WAL measured at 1 and 5 million
events, and how to run it. SQLite rebuilds both tables, as alembic's batch mode does, written out here because
batch mode cannot replace an unnamed primary key without a warning.

Going down keeps one claim per id (its earliest day) and gives `events` its old key back; that fails, changing
nothing, if two venues hold the same event id, which ingest does not let happen.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)

# Into the new table, event_keys_0016: each claim with its event's venue, or 0 (a claim without an event).
KEYS_UP = """
INSERT INTO event_keys_0016 (event_id, venue_id, received_day)
SELECT k.event_id, COALESCE(e.venue_id, 0), k.received_day
FROM event_keys k LEFT JOIN events e ON e.event_id = k.event_id AND e.received_day = k.received_day
"""
# And back: one claim per id, its earliest day.
KEYS_DOWN = """
INSERT INTO event_keys_0016 (event_id, received_day)
SELECT event_id, MIN(received_day) FROM event_keys GROUP BY event_id
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql(keys_with_venue=True)
    else:
        _sqlite(keys_with_venue=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql(keys_with_venue=False)
    else:
        _sqlite(keys_with_venue=False)


def _postgresql(keys_with_venue: bool) -> None:
    """`event_keys` copied into its new shape, then the key of partitioned `events` replaced in place."""
    # Before anything else, and in the order ingest takes them (the claim, then the event), so that a live
    # ingest waits instead of deadlocking: from here to the commit no claim or event is written, reads go on.
    op.execute("LOCK TABLE event_keys IN ACCESS EXCLUSIVE MODE")
    op.execute("LOCK TABLE events IN SHARE MODE")
    op.execute(f"CREATE TABLE event_keys_0016 ({_keys_columns_sql(keys_with_venue)})")
    op.execute(KEYS_UP if keys_with_venue else KEYS_DOWN)
    op.execute("DROP TABLE event_keys")
    op.execute("ALTER TABLE event_keys_0016 RENAME TO event_keys")
    key = "event_id, venue_id" if keys_with_venue else "event_id"
    op.execute(f"ALTER TABLE event_keys ADD CONSTRAINT event_keys_pkey PRIMARY KEY ({key})")
    op.execute("CREATE INDEX ix_event_keys_received_day ON event_keys (received_day)")
    key = "event_id, venue_id, received_day" if keys_with_venue else "event_id, received_day"
    op.execute(f"ALTER TABLE events DROP CONSTRAINT events_pkey, ADD CONSTRAINT events_pkey PRIMARY KEY ({key})")


def _keys_columns_sql(with_venue: bool) -> str:
    venue = "venue_id INTEGER NOT NULL, " if with_venue else ""
    return f"event_id VARCHAR(36) NOT NULL, {venue}received_day DATE NOT NULL"


def _sqlite(keys_with_venue: bool) -> None:
    """Both tables made anew with their new keys, filled from the old ones, and renamed into place."""
    # Python's sqlite3 opens a transaction before a DML statement only, and runs DDL outside any: this DELETE of
    # nothing opens it, so that a failure below (a duplicate id, going down) rolls the whole rebuild back.
    op.execute("DELETE FROM event_keys WHERE 0 = 1")
    key = ["event_id", "venue_id"] if keys_with_venue else ["event_id"]
    venue = [sa.Column("venue_id", sa.Integer, nullable=False)] if keys_with_venue else []
    op.create_table(
        "event_keys_0016",
        sa.Column("event_id", sa.String(36), nullable=False),
        *venue,
        sa.Column("received_day", sa.Date, nullable=False),
        sa.PrimaryKeyConstraint(*key, name="event_keys_pkey"),
    )
    op.execute(KEYS_UP if keys_with_venue else KEYS_DOWN)
    op.drop_table("event_keys")
    op.rename_table("event_keys_0016", "event_keys")
    op.create_index("ix_event_keys_received_day", "event_keys", ["received_day"])

    key = ["event_id", "venue_id", "received_day"] if keys_with_venue else ["event_id", "received_day"]
    columns = _events_columns()
    op.create_table("events_0016", *columns, sa.PrimaryKeyConstraint(*key, name="events_pkey"))
    names = ", ".join(c.name for c in columns)
    op.execute(f"INSERT INTO events_0016 ({names}) SELECT {names} FROM events")  # noqa: S608 (names: ours, above)
    op.drop_table("events")
    op.rename_table("events_0016", "events")
    op.create_index("events_subject_time", "events", ["subject_key", "time"])
    op.create_index("events_venue_time", "events", ["venue_id", "time"])


def _events_columns() -> list[sa.Column[Any]]:
    """The columns of `events` on SQLite, as migrations 0001 to 0015 left them."""
    return [
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("received_day", sa.Date, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("venue_id", sa.Integer, nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer, nullable=True),  # 64-bit on SQLite: 0004 changed only PostgreSQL's
        sa.Column("wall_time", sa.Float, nullable=True),
        sa.Column("mono_time", sa.Float, nullable=True),
        sa.Column("time", TZ, nullable=False),
        sa.Column("time_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=True),
        sa.Column("decision", sa.String(6), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("decoder", sa.String(16), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
    ]
