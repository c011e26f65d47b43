"""Daily partitions of `events` on PostgreSQL: made ahead of time, dropped whole for retention.

A row whose day has no partition lands in `events_default`, so partitions are made a week ahead, at start and
every day. Rows that landed there all the same (an import before the server ever ran) move to their partition
when it is made: PostgreSQL refuses to make it otherwise.
SQLite has no partitions: retention there is a DELETE.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, Engine, delete, text

from central.schema import event_keys, events

AHEAD_DAYS = 7


def partition_name(day: date) -> str:
    return f"events_{day:%Y%m%d}"


def ensure_partitions(engine: Engine, today: date, ahead: int = AHEAD_DAYS) -> list[str]:
    """Make the partitions for `today` and the days after it that do not exist yet; returns their names."""
    if engine.dialect.name != "postgresql":
        return []
    made = []
    with engine.begin() as conn:
        for offset in range(ahead + 1):
            day = today + timedelta(days=offset)
            name = partition_name(day)
            exists = conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
            if exists is None:
                _make_partition(conn, day)
                made.append(name)
    return made


def _make_partition(conn: Connection, day: date) -> None:
    """The partition of `day`. Rows of that day already in the default partition (an import before the server
    ever ran, or a server down for a week) are moved into it: PostgreSQL refuses to make it while they are there."""
    held = conn.execute(delete(events).where(events.c.received_day == day).returning(*events.c)).mappings().all()
    conn.execute(
        text(
            f"CREATE TABLE {partition_name(day)} PARTITION OF events "  # the name is made here from a date
            f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
        )
    )
    if held:
        conn.execute(events.insert(), [dict(row) for row in held])


def purge_before(engine: Engine, cutoff: date) -> int:
    """Remove events received before `cutoff` (and their ids); returns partitions dropped or rows deleted."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent "
                    "WHERE p.relname = 'events' AND c.relname ~ '^events_[0-9]{8}$'"
                )
            ).scalars()
            old = [n for n in names if n < partition_name(cutoff)]
            for name in old:
                conn.execute(text(f"DROP TABLE {name}"))  # names matched ^events_[0-9]{8}$ above
            conn.execute(delete(events).where(events.c.received_day < cutoff))  # what the default partition held
            conn.execute(delete(event_keys).where(event_keys.c.received_day < cutoff))
            return len(old)
        removed = conn.execute(delete(events).where(events.c.received_day < cutoff)).rowcount
        conn.execute(delete(event_keys).where(event_keys.c.received_day < cutoff))
        return removed
