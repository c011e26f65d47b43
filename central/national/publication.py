"""What a province publishes to the national centre, and the SQL that sets it up on the province's PostgreSQL.

Two publications, because PostgreSQL's `publish` option is per publication:
- `kiosk_national_events`: inserts into `events`, as the partitioned root (`publish_via_partition_root`, so the
  national copy need not have the province's daily partitions), with a column list and a row filter. Only
  ACCEPTed passages with a subject key leave: that is all tracing reads, and a DENY "status-red" or a REVIEW
  "status-yellow" row would tell the national tier a person's health status. The device, its boot and sequence,
  its clocks, the decoder and the latency stay in the province: the national tier has no use for them. Deletes
  are not published: a province drops whole partitions (which logical replication never sends anyway), and the
  national centre keeps its copy under its own retention.
- `kiosk_national_places`: `units` (the tree, whole) and `venues` without their policy overrides and address,
  inserts, updates and deletes (by primary key), so a renamed or retired venue is renamed or retired nationally;
  and for the national deployment dashboard (central/national/dashboard.py), `devices` without their last
  heartbeat's details or clock (enrolled, revoked, last heard from: a kiosk's public key goes too, since the
  copy's column is NOT NULL, and it is public) and `venue_days`, the daily count of passages per venue.

Nothing else is published: not declarations, sealed contacts, access lists, visits, accounts, the audit log,
device keys, settings or the subject-key secret (PRIVACY.md).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, text

from central.errors import CentralError

EVENTS_PUBLICATION = "kiosk_national_events"
PLACES_PUBLICATION = "kiosk_national_places"
PUBLICATIONS = (EVENTS_PUBLICATION, PLACES_PUBLICATION)

# Every NOT NULL column of `events` must be sent (the copy has the same schema); the nullable ones tracing does
# not read are left behind.
EVENT_COLUMNS = (
    "event_id", "received_day", "venue_id", "time", "time_synced", "received_at",
    "direction", "kind", "subject_key", "decision", "reason",
)  # fmt: skip
EVENTS_KEPT_HOME = ("device_id", "boot_id", "seq", "wall_time", "mono_time", "decoder", "latency_ms")
EVENT_FILTER = "decision = 'ACCEPT' AND subject_key IS NOT NULL"
UNIT_COLUMNS = ("id", "code", "name", "parent_id", "created_at")
VENUE_COLUMNS = ("id", "code", "name", "unit_id", "category", "created_at", "retired_at")
DEVICE_COLUMNS = ("id", "venue_id", "name", "public_key", "enrolled_at", "revoked_at", "last_seen_at")

EVENTS_TABLES = f"events ({', '.join(EVENT_COLUMNS)}) WHERE ({EVENT_FILTER})"
PLACES_TABLES = (
    f"units ({', '.join(UNIT_COLUMNS)}), venues ({', '.join(VENUE_COLUMNS)}), "
    f"devices ({', '.join(DEVICE_COLUMNS)}), venue_days"
)
EVENTS_OPTIONS = "publish = 'insert', publish_via_partition_root = true"
PLACES_OPTIONS = "publish = 'insert, update, delete', publish_via_partition_root = true"


class NationalError(CentralError):
    """The national tier cannot be set up as asked: not PostgreSQL, wal_level not logical, a bad province."""


def publication_sql(existing: Collection[str] = ()) -> list[str]:
    """The statements that make (or, for those in `existing`, bring up to date) the two publications."""
    statements = []
    for name, tables, options in (
        (EVENTS_PUBLICATION, EVENTS_TABLES, EVENTS_OPTIONS),
        (PLACES_PUBLICATION, PLACES_TABLES, PLACES_OPTIONS),
    ):
        if name in existing:
            statements += [f"ALTER PUBLICATION {name} SET TABLE {tables}", f"ALTER PUBLICATION {name} SET ({options})"]
        else:
            statements.append(f"CREATE PUBLICATION {name} FOR TABLE {tables} WITH ({options})")
    return statements


def publish(conn: Connection, grant_to: str | None = None) -> list[str]:
    """Make or update the publications on this province's database; returns the statements run. `grant_to`: the
    role the national centre connects as is given SELECT on the published tables (the first copy reads them)."""
    require_postgresql(conn)
    level = conn.execute(text("SHOW wal_level")).scalar()
    if level != "logical":
        raise NationalError(
            f"wal_level is {level!r}: set wal_level = logical in postgresql.conf and restart PostgreSQL, "
            "then publish again (the national centre reads the province's changes from its WAL)"
        )
    existing = set(
        conn.execute(
            text("SELECT pubname FROM pg_publication WHERE pubname = ANY(:names)"), {"names": list(PUBLICATIONS)}
        )
        .scalars()
        .all()
    )
    statements = publication_sql(existing)
    if grant_to is not None:
        statements.append(f"GRANT SELECT ON units, venues, events, devices, venue_days TO {_role(conn, grant_to)}")
    for statement in statements:
        conn.execute(text(statement))  # made here from constants, and a role name quoted by the server
    return statements


def require_postgresql(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        raise NationalError("the national tier needs PostgreSQL (logical replication): this database is SQLite")


def _role(conn: Connection, name: str) -> str:
    """`name` quoted as an identifier, once the server confirms the role exists and may replicate."""
    row = conn.execute(
        text("SELECT quote_ident(rolname), rolreplication OR rolsuper FROM pg_roles WHERE rolname = :n"), {"n": name}
    ).first()
    if row is None:
        raise NationalError(f"no role {name!r} here: CREATE ROLE {name} LOGIN REPLICATION PASSWORD '...' first")
    if not row[1]:
        raise NationalError(f"role {name!r} may not replicate: ALTER ROLE {name} REPLICATION")
    return str(row[0])
