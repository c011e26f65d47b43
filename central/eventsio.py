"""Events out and in as JSON Lines: the format of exports, migrations between servers, and tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from central.errors import CentralError
from central.ingest import claim_ids
from central.rollup import add_scans
from central.schema import events, venues
from central.timeutil import aware
from kiosk.isotime import parse_iso

DECISIONS = ("ACCEPT", "DENY", "REVIEW")
EXPORT_COLUMNS = ("event_id", "device_id", "direction", "subject_key", "decision", "reason", "kind")


def export_events(conn: Connection, venue: str | None = None) -> Iterator[dict[str, Any]]:
    query = (
        select(events, venues.c.code.label("venue"))
        .join(venues, venues.c.id == events.c.venue_id)
        .order_by(events.c.time, events.c.event_id)
    )
    if venue is not None:
        query = query.where(venues.c.code == venue)
    for row in conn.execute(query.execution_options(yield_per=1000)):
        out = {c: getattr(row, c) for c in EXPORT_COLUMNS}
        # PostgreSQL answers in the session's time zone (Asia/Ho_Chi_Minh on a server set up in Vietnam): UTC here.
        time = aware(row.time).astimezone(UTC)  # type: ignore[union-attr]
        out.update(venue=row.venue, time=time.isoformat(), time_synced=row.time_synced)
        yield out


def import_events(conn: Connection, lines: Iterable[str], now: datetime) -> tuple[int, int]:
    """Insert the events of JSON Lines not held yet; returns (read, added). Idempotent."""
    venue_ids = {code: vid for vid, code in conn.execute(select(venues.c.id, venues.c.code))}
    read = 0
    new: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        read += 1
        row = _row(line, number, venue_ids, now)
        if claim_ids(conn, row["venue_id"], [row["event_id"]], now.date()):
            conn.execute(events.insert().values(row))
            new.append(row)
    add_scans(conn, new)  # the dashboard's rollup counts them too, once
    return read, len(new)


def _row(line: str, number: int, venue_ids: dict[str, int], now: datetime) -> dict[str, Any]:
    try:
        data = json.loads(line)
        venue_id = venue_ids[data["venue"]]
        time = parse_iso(data["time"]).astimezone(UTC)  # SQLite would keep 09:00+07:00 as 09:00, read back as UTC
        row = {c: data.get(c) for c in EXPORT_COLUMNS}
        if not row["event_id"] or row["direction"] not in ("in", "out") or row["decision"] not in DECISIONS:
            raise ValueError("event_id, direction in/out and decision ACCEPT/DENY/REVIEW are required")
    except KeyError as exc:
        raise CentralError(f"line {number}: missing or unknown {exc} (venues must exist before their events)") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise CentralError(f"line {number}: {exc}") from None
    return {
        **row,
        "kind": row["kind"] or "unknown",
        "reason": row["reason"] or "imported",
        "venue_id": venue_id,
        "time": time,
        "time_synced": bool(data.get("time_synced", True)),
        "received_day": now.date(),
        "received_at": now,
    }
