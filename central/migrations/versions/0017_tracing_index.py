"""An index of what a trace reads at a venue (issue 18, docs/scale.md): `events_venue_presence`, on (venue_id,
time) of the ACCEPTed passages of a person, holding also their subject key, direction and received day. A
second-degree trace reads everyone's passages around its contacts' visits (central/tracevisits.py, `_joined`):
some 30,000 rows at 10 million events, half a million at 60 million, each a heap page through
events_venue_time; through this index, an index-only scan (no heap page). 79 bytes per event. events_venue_time
stays: other reads by venue (central/visits.py, venuestate.py, accesspasses.py) are not only of ACCEPTs.

PostgreSQL: made on the partitioned `events`, so that every partition has its own (and every partition made
later). It cannot be CONCURRENTLY on a partitioned table: the build holds a SHARE lock on `events` and each
partition (writes wait, reads go on) until the migration's transaction commits. Measured (bench/growth_bench.py
--index-cost: PostgreSQL 15, maintenance_work_mem 64 MB, fsync off, 2 cores shared with other work; a probe
INSERT and a probe read of a venue's passages every 50 ms): 23.8 s at 30 million events and 44.7 s at 60
million, so about 0.8 s per million events, all of it with writes waiting (23.7 s, 44.7 s) and reads not (at
most 0.05 s); 72 bytes of WAL per event (4.3 GB at 60 million). A province of 19 million events: some 15 s of
uploads waiting, under the kiosks' 20 s timeout (they retry; each event is stored once). Going down drops it:
about a second, under an ACCESS EXCLUSIVE lock.

SQLite: the same partial index on (venue_id, time), without INCLUDE (SQLite has none). The other columns are not
made key columns instead: one declaration in central/schema.py is the schema on both engines, and alembic
compares an index's key columns on both. SQLite reads it where a query's own WHERE holds both terms (a venue's
presence, central/visits.py), not for a trace: `venue_passages` ORs 25 ranges there, each planned alone; nor
would more key columns make it covering, as SQLite reads `decision` from the table to check the WHERE.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

PRESENCE = "decision = 'ACCEPT' AND subject_key IS NOT NULL"


def upgrade() -> None:
    _in_the_transaction()
    op.create_index(
        "events_venue_presence",
        "events",
        ["venue_id", "time"],
        postgresql_include=["subject_key", "direction", "received_day"],
        postgresql_where=sa.text(PRESENCE),
        sqlite_where=sa.text(PRESENCE),
    )


def downgrade() -> None:
    _in_the_transaction()
    op.drop_index("events_venue_presence", "events")


def _in_the_transaction() -> None:
    """On SQLite, opens the transaction the migrations run in: Python's sqlite3 opens one before DML only and
    runs DDL outside any, so that the index would stay made (or dropped) if a later migration of the same run
    failed and its version were rolled back (as 0016 does). PostgreSQL's DDL is transactional already."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM events WHERE 0 = 1")
