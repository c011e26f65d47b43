"""A venue's access-list version: one row per venue, bumped first thing in the transaction of every change.

Bumping first makes the version row the venue's list lock: on PostgreSQL a second change of the same venue waits
at its bump until the first commits, so changes never interleave (group ids are numbered per venue under it),
and a reader holding the row in share mode (`read_version`) sees no change commit while it reads the rest.
SQLite takes one writer at a time anyway, and a read transaction sees one snapshot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from central.schema import access_versions


def bump_version(conn: Connection, venue_id: int, now: datetime) -> int:
    """Take the venue's list for a change; its new version."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    first = insert(access_versions).values(venue_id=venue_id, version=0, changed_at=now)
    conn.execute(first.on_conflict_do_nothing(index_elements=["venue_id"]))
    conn.execute(
        update(access_versions)
        .where(access_versions.c.venue_id == venue_id)
        .values(version=access_versions.c.version + 1, changed_at=now)
    )
    return list_version(conn, venue_id)


def list_version(conn: Connection, venue_id: int) -> int:
    """The venue's list version; 0 for a venue that never had a list."""
    query = select(access_versions.c.version).where(access_versions.c.venue_id == venue_id)
    return int(conn.execute(query).scalar() or 0)


def read_version(conn: Connection, venue_id: int) -> int:
    """The version, with the row held in share mode to the end of the transaction: what is read after it is that
    version's list (no change can commit meanwhile), or, for a venue without a row yet, one at least as new."""
    query = select(access_versions.c.version).where(access_versions.c.venue_id == venue_id)
    return int(conn.execute(query.with_for_update(read=True)).scalar() or 0)
