"""What leaves the centre about an event, by webhook or by the feed (PRIVACY.md, "Passages out of the centre").

Only derived fields and the subject key: never an ID number, a name, a phone, a QR text, a visit's host or ID
digits (those are not in `events` anyway, and nothing here joins the tables that hold them). The device's boot,
sequence and clocks, the decoder and its latency are operations data a consumer has no use for: not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select

from central.schema import events, units, venues
from central.timeutil import aware

FIELDS = (
    "event_id",
    "venue",
    "unit",
    "device_id",
    "direction",
    "decision",
    "reason",
    "kind",
    "subject_key",
    "time",
    "time_synced",
    "received_at",
)
ALWAYS = ("event_id",)  # each event carries its id: a receiver's de-duplication key


def check_fields(fields: list[str]) -> list[str]:
    """`fields` in FIELDS order with event_id always in; ValueError naming an unknown field."""
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; the fields are: {', '.join(FIELDS)}")
    wanted = set(fields) | set(ALWAYS)
    return [f for f in FIELDS if f in wanted]


def documents(conn: Connection, feed_rows: list[Any], fields: Sequence[str] = FIELDS) -> list[dict[str, Any]]:
    """The events of `feed_rows` (event_feed rows, in their order) as sent, with only `fields`. Read by primary key
    (event id and day: one partition each), with the page's venues and units in one more query; an event removed
    by retention while its feed row remains is skipped."""
    if not feed_rows:
        return []
    ids = [row.event_id for row in feed_rows]
    days = sorted({row.received_day for row in feed_rows})
    query = select(*(events.c[name] for name in EVENT_COLUMNS)).where(
        events.c.event_id.in_(ids), events.c.received_day.in_(days)
    )
    held = {(row.event_id, row.received_day): row for row in conn.execute(query)}
    places = (
        select(venues.c.id, venues.c.code, units.c.code.label("unit"))
        .join(units, units.c.id == venues.c.unit_id)
        .where(venues.c.id.in_(sorted({row.venue_id for row in feed_rows})))
    )
    codes = {row.id: (row.code, row.unit) for row in conn.execute(places)}
    found = []
    for row in feed_rows:
        event = held.get((row.event_id, _day(row.received_day)))
        if event is not None:
            venue, unit = codes.get(row.venue_id, (None, None))
            found.append(document(event, venue, unit, fields))
    return found


EVENT_COLUMNS = (
    "event_id",
    "received_day",
    "device_id",
    "direction",
    "decision",
    "reason",
    "kind",
    "subject_key",
    "time",
    "time_synced",
    "received_at",
)


def document(event: Any, venue: str | None, unit: str | None, fields: Sequence[str] = FIELDS) -> dict[str, Any]:
    """One event as sent, with only `fields`."""
    full = {
        "event_id": event.event_id,
        "venue": venue,
        "unit": unit,
        "device_id": event.device_id,
        "direction": event.direction,
        "decision": event.decision,
        "reason": event.reason,
        "kind": event.kind,
        "subject_key": event.subject_key,
        "time": _iso(event.time),
        "time_synced": bool(event.time_synced),
        "received_at": _iso(event.received_at),
    }
    return {name: full[name] for name in fields}


def _day(value: Any) -> date:
    """SQLite gives dates back as dates through SQLAlchemy's Date type; a string is parsed all the same."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _iso(moment: datetime | None) -> str | None:
    value = aware(moment)
    return None if value is None else value.astimezone(UTC).isoformat()
