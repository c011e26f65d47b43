"""The national centre's side: a copy of each province in a database of its own, subscribed to the province.

`kiosk-central --db postgresql://.../national national subscribe --province 67 --conninfo '...'` makes the
database `national_p67` on the national cluster (if missing), migrates it with the project's migrations (the
same schema as the province: logical replication does not carry schema changes, so a copy is migrated before
its province is), makes the subscription `kiosk_national_p67` in it, and records the copy in the national
database's settings (`national.province.67`), where the national trace finds it.

How a province catches up: the subscription's replication slot on the province remembers how far the national
copy has confirmed. When the province (or the national centre, or the link) is down, the apply worker retries
(every `wal_retrieve_retry_interval`, 5 s by default) and, once connected, streams everything committed since,
in commit order; nothing is re-copied. The province's WAL is kept for the slot meanwhile: a long national outage
costs the province disk, up to `max_slot_wal_keep_size`, past which the slot is lost and the copy must be made
again (docs/scale.md, "The national tier").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from psycopg import sql
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.engine import make_url

from central.national.publication import PUBLICATIONS, NationalError, require_postgresql
from central.schema import events
from central.settings import set_setting, settings_with_prefix

PROVINCE = re.compile(r"[0-9]{2}")
SETTING_PREFIX = "national.province."


@dataclass(frozen=True)
class CopyState:
    """How a province's copy stands: its subscription, its apply worker, what it holds."""

    province: str
    database: str
    enabled: bool
    worker_running: bool
    last_message_at: datetime | None
    events: int

    def as_json(self) -> dict[str, Any]:
        last = self.last_message_at.isoformat(timespec="seconds") if self.last_message_at else None
        return {
            "province": self.province,
            "database": self.database,
            "enabled": self.enabled,
            "worker_running": self.worker_running,
            "last_message_at": last,
            "events": self.events,
        }


def checked_province(value: str) -> str:
    province = value.strip()
    if not PROVINCE.fullmatch(province):
        raise NationalError(f"{value[:20]!r} is not a province: give its two-digit administrative code (e.g. 67)")
    return province


def subscription_name(province: str) -> str:
    """Also the replication slot's name on the province."""
    return f"kiosk_national_p{checked_province(province)}"


def copy_url(national_url: str, province: str) -> str:
    """The URL of `province`'s copy: the national database's URL with the copy's database name."""
    url = make_url(national_url)
    if url.database is None:
        raise NationalError("the national database URL names no database")
    return url.set(database=f"{url.database}_p{checked_province(province)}").render_as_string(hide_password=False)


def create_copy(national: Engine, province: str) -> str:
    """Make the database of `province`'s copy beside the national one if missing; returns its URL (unmigrated)."""
    url = copy_url(national.url.render_as_string(hide_password=False), province)
    name = make_url(url).database
    with national.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        require_postgresql(conn)
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            _run(conn, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
    return url


def subscribe(copy: Engine, province: str, conninfo: str) -> str:
    """Make the subscription of `province`'s copy, or point it at `conninfo` again, enable it and refresh its
    tables; returns its name. The first time, the province's published rows are copied, then its changes stream.
    Needs a superuser (PostgreSQL 15)."""
    name = subscription_name(province)
    publications = sql.SQL(", ").join(sql.Identifier(p) for p in PUBLICATIONS)
    with copy.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        require_postgresql(conn)
        if not conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar():
            raise NationalError("making a subscription needs a superuser on PostgreSQL 15: connect as one")
        if _exists(conn, name):
            _run(
                conn, sql.SQL("ALTER SUBSCRIPTION {} CONNECTION {}").format(sql.Identifier(name), sql.Literal(conninfo))
            )
            _run(conn, sql.SQL("ALTER SUBSCRIPTION {} ENABLE").format(sql.Identifier(name)))
            # tables the province publishes since (a later `national publish`): copied, then streamed
            _run(conn, sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(sql.Identifier(name)))
        else:
            statement = sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                sql.Identifier(name), sql.Literal(conninfo), publications
            )
            _run(conn, statement)
    return name


def register(conn: Connection, province: str, database: str) -> None:
    """Record `province`'s copy in the national database, where the national trace finds it."""
    set_setting(conn, SETTING_PREFIX + checked_province(province), database)


def provinces(conn: Connection) -> dict[str, str]:
    """The provinces the national centre holds copies of, with their databases, by code."""
    return dict(sorted(settings_with_prefix(conn, SETTING_PREFIX).items()))


def copy_state(conn: Connection, province: str, *, count_events: bool = True) -> CopyState:
    """The state of `province`'s copy, read in the copy's database (`count_events` false: events is 0, the count
    of a national-sized table being too slow for a page)."""
    name = subscription_name(province)
    row = conn.execute(
        text(
            "SELECT s.subenabled, w.pid IS NOT NULL, w.last_msg_receipt_time FROM pg_subscription s "
            "LEFT JOIN pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL "
            "WHERE s.subname = :n AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"n": name},
    ).first()
    count = int(conn.execute(select(func.count()).select_from(events)).scalar_one()) if count_events else 0
    database = str(conn.execute(text("SELECT current_database()")).scalar())
    if row is None:
        return CopyState(province, database, False, False, None, count)
    return CopyState(province, database, bool(row[0]), bool(row[1]), row[2], count)


def _exists(conn: Connection, name: str) -> bool:
    found = conn.execute(
        text(
            "SELECT 1 FROM pg_subscription WHERE subname = :n "
            "AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"n": name},
    )
    return found.first() is not None


def _run(conn: Connection, statement: sql.Composed) -> None:
    """A utility statement PostgreSQL takes no parameters in, composed with psycopg's quoting, run as is."""
    raw = cast(Any, conn.connection.dbapi_connection)
    with raw.cursor() as cursor:
        cursor.execute(statement)
