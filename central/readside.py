"""Reads that may go to a standby: the dashboard and tracing, which only read, and read much.

A province's centre runs on a primary and a hot standby (docs/scale.md, "High availability"). Writes go to the
primary (`--db`, `target_session_attrs=read-write`). Given `--read-db` ($KIOSK_CENTRAL_READ_DB), typically the
same hosts with `target_session_attrs=prefer-standby`, the dashboard's report and a trace's query are read there
instead, in a read-only REPEATABLE READ transaction (one consistent snapshot for the whole report). libpq falls
back to the primary by itself when no standby answers; a read the standby cancels (a conflict with recovery,
SQLSTATE 40001) or a standby that cannot be reached at all is read again on the primary.

A standby is a little behind. `DataAge` says how much, and the pages show it: read on the primary, the data is
live; on a standby that has replayed all it received and is streaming, it is current; otherwise it is as old as
the last transaction it replayed (the primary may be down, or replay paused or slow).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from central.db import make_engine, resolve_url

READ_DB_ENV = "KIOSK_CENTRAL_READ_DB"
LATE_S = 60.0  # a standby further behind than this is shown as late, not just as the time of its data
log = logging.getLogger(__name__)
T = TypeVar("T")

_AGE_SQL = text(
    """
    SELECT pg_is_in_recovery(),
           pg_last_xact_replay_timestamp(),
           pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
           (SELECT count(*) FROM pg_stat_wal_receiver) > 0
    """
)


@dataclass(frozen=True, slots=True)
class DataAge:
    """How old what a page shows is. `standby`: read on a standby; `as_of`: the time the data was current;
    `behind_s`: how far behind the primary it is (0: caught up; None: not known, nothing replayed yet)."""

    standby: bool
    as_of: datetime | None
    behind_s: float | None

    @property
    def late(self) -> bool:
        return self.standby and (self.behind_s is None or self.behind_s > LATE_S)


def data_age(conn: Connection, now: datetime) -> DataAge:
    """The age of what `conn` reads, asked of the server itself (SQLite and a primary: live, as of `now`)."""
    if conn.dialect.name != "postgresql":
        return DataAge(False, now, 0.0)
    row = conn.execute(_AGE_SQL).one()
    in_recovery, replayed_at, caught_up, receiving = row
    if not in_recovery:
        return DataAge(False, now, 0.0)
    if caught_up and receiving:  # all it received is replayed, and it is still receiving: current
        return DataAge(True, now, 0.0)
    if replayed_at is None:
        return DataAge(True, None, None)
    replayed_at = replayed_at if replayed_at.tzinfo else replayed_at.replace(tzinfo=UTC)
    return DataAge(True, replayed_at, max(0.0, (now - replayed_at).total_seconds()))


class Reader:
    """Runs read-only work on the read engine (a standby, when there is one), else on the primary's."""

    def __init__(self, primary: Engine, engine: Engine | None = None) -> None:
        self.primary = primary
        self.engine = engine or primary

    @property
    def separate(self) -> bool:
        return self.engine is not self.primary

    def read(self, work: Callable[[Connection], T], now: datetime) -> tuple[T, DataAge]:
        """`work` in one read-only snapshot, and the age of the data it saw."""
        if self.separate:
            try:
                return _run(self.engine, work, now, standby=True)
            except DBAPIError as exc:
                if not _standby_trouble(exc):
                    raise
                log.warning("read on the standby failed (%s): read again on the primary", _first_line(exc))
        return _run(self.primary, work, now)


def read_engine(url: str | None) -> Engine | None:
    """The engine for `--read-db` (else $KIOSK_CENTRAL_READ_DB), or None when reads go to the primary. Never
    migrated: a standby is read-only, and the primary's migrations reach it by replication."""
    url = url or os.environ.get(READ_DB_ENV)
    if not url:
        return None
    return make_engine(resolve_url(url))


def _run(engine: Engine, work: Callable[[Connection], T], now: datetime, *, standby: bool = False) -> tuple[T, DataAge]:
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            return work(conn), data_age(conn, now)
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn:
        with conn.begin():
            done, age = work(conn), data_age(conn, now)
        if standby and not age.standby:
            # prefer-standby found no standby and connected to the primary: not kept in the pool, so that the
            # next read looks for the standby again once it is back.
            conn.invalidate()
        return done, age


def _standby_trouble(exc: DBAPIError) -> bool:
    """A read the primary may still answer: the standby could not be reached (connection refused or lost,
    SQLSTATE class 08, admin shutdown 57P0x) or cancelled the query for recovery (40001)."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    if exc.connection_invalidated or (isinstance(exc, OperationalError) and not state):
        return True
    return state == "40001" or state.startswith(("08", "57P0"))


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
