"""The per-venue daily rollup (`venue_days`) that the deployment dashboard reads instead of the events.

Ingest adds the scans of the events it inserts (only the new ones, so a re-sent batch is not counted twice);
an upload or a heartbeat marks the venue as heard from that day. `rebuild` recomputes it from the events held.
Rows are upserted in key order, so two batches touching the same venue-days cannot deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from central.localtime import local_day, local_zone
from central.schema import events, venue_days
from central.timeutil import aware


def add_scans(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Count inserted event rows (venue_id, time, decision) into their venue's local day."""
    zone = local_zone()
    scans: Counter[tuple[int, date]] = Counter()
    accepted: Counter[tuple[int, date]] = Counter()
    for row in rows:
        key = (row["venue_id"], local_day(row["time"], zone))
        scans[key] += 1
        accepted[key] += row["decision"] == "ACCEPT"
    _upsert(conn, [{"venue_id": v, "day": d, "scans": n, "accepted": accepted[v, d]} for (v, d), n in scans.items()])


def mark_heard(conn: Connection, venue_id: int, now: datetime) -> None:
    _upsert(conn, [{"venue_id": venue_id, "day": local_day(now), "scans": 0, "accepted": 0, "heard": True}])


def rebuild(conn: Connection, chunk: int = 50_000) -> int:
    """Recompute the scans of every venue-day from the events (heard flags are kept); returns events counted."""
    conn.execute(venue_days.update().values(scans=0, accepted=0))
    counted = 0
    query = select(events.c.venue_id, events.c.time, events.c.decision).execution_options(yield_per=chunk)
    batch: list[dict[str, Any]] = []
    for venue_id, time, decision in conn.execute(query):
        batch.append({"venue_id": venue_id, "time": aware(time), "decision": decision})
        if len(batch) >= chunk:
            add_scans(conn, batch)
            counted += len(batch)
            batch = []
    add_scans(conn, batch)
    conn.execute(delete(venue_days).where(venue_days.c.scans == 0, ~venue_days.c.heard))
    return counted + len(batch)


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    rows.sort(key=lambda r: (r["venue_id"], r["day"]))
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(venue_days)
    heard = rows[0].get("heard", False)
    values = {
        "scans": venue_days.c.scans + statement.excluded.scans,
        "accepted": venue_days.c.accepted + statement.excluded.accepted,
    }
    if heard:
        values["heard"] = statement.excluded.heard
    conn.execute(
        statement.on_conflict_do_update(index_elements=["venue_id", "day"], set_=values),
        [{"heard": heard, **row} for row in rows],
    )
