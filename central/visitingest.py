"""Visits from the kiosks (POST /api/v1/visits): held once each, by venue and visit id, the first copy kept.

A kiosk's clock may be wrong (a Raspberry Pi has no battery clock), so a visit's time is its "visit-opened" event's
corrected time when the centre holds that event (the kiosk uploads a visit after its event), else the kiosk's own
wall time. Both dialects take the same path as events do: INSERT ... ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from central.devices import Device
from central.models import VisitIn
from central.schema import events, visits
from central.timeutil import aware


def hold_visits(conn: Connection, device: Device, batch: list[VisitIn], now: datetime) -> list[str]:
    """Store the visits of `batch` not held yet at the device's venue; return the ids of all of them."""
    first: dict[str, VisitIn] = {}
    for visit in batch:
        first.setdefault(visit.visit_id, visit)  # a visit given twice in one batch: its first copy
    if not first:
        return []
    times = _event_times(conn, device.venue_id, list(first.values()))
    rows = [_row(visit, device, times.get(visit.event_id), now) for visit in first.values()]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(visits).on_conflict_do_nothing(index_elements=["venue_id", "visit_id"]), rows)
    return list(first)


def _event_times(conn: Connection, venue_id: int, batch: list[VisitIn]) -> dict[str, datetime | None]:
    """The corrected times of the visits' own events the centre holds (same venue, same person)."""
    subjects = {visit.event_id: visit.subject_key for visit in batch}
    query = select(events.c.event_id, events.c.subject_key, events.c.time).where(
        events.c.event_id.in_(list(subjects)), events.c.venue_id == venue_id
    )
    rows = conn.execute(query)
    return {row.event_id: aware(row.time) for row in rows if subjects[row.event_id] == row.subject_key}


def _row(visit: VisitIn, device: Device, event_time: datetime | None, now: datetime) -> dict[str, Any]:
    return {
        "venue_id": device.venue_id,
        "visit_id": visit.visit_id,
        "event_id": visit.event_id,
        "device_id": device.id,
        "subject_key": visit.subject_key,
        "host": visit.host,
        "purpose": visit.purpose,
        "id_tail": visit.id_tail,
        "opened_at": event_time or datetime.fromtimestamp(visit.opened_at, UTC),
        "received_at": now,
    }
