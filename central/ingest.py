"""Event ingest: bulk insert, exactly once, with each event's time corrected for the device's clock.

Both dialects take the same path: claim the ids in `event_keys` (ON CONFLICT DO NOTHING, RETURNING the new
ones), insert only those into `events`. Every id of the batch is then held, new or not, and that is the answer.

A claim is keyed by (event id, venue), as Citus needs (migration 0016, docs/scale.md), but an event is stored
once whatever venue sends it: a kiosk enrolled again at another venue uploads, under its new device and venue,
what it had not yet seen answered, and a batch the centre stored just before the move may be among it. So the
ids held at any venue are left out before the claim (one probe of the claims' key per id, which the event id
leads); the claim's ON CONFLICT still decides between two uploads of the same venue at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, String, any_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from central.devices import Device
from central.models import DeviceTime, EventIn
from central.rollup import add_scans, mark_heard
from central.schema import devices, event_keys, events
from central.webhooks.outbox import record_outgoing


def ingest(conn: Connection, device: Device, clock: DeviceTime, batch: list[EventIn], now: datetime) -> list[str]:
    """Insert the new events of `batch`; return the ids of all of them (now held by the server)."""
    offset = now.timestamp() - clock.wall
    conn.execute(update(devices).where(devices.c.id == device.id).values(last_seen_at=now, clock_offset_s=offset))
    mark_heard(conn, device.venue_id, now)
    ids = list(dict.fromkeys(e.event_id for e in batch))
    if not ids:
        return []
    day = now.date()
    new = set(claim_ids(conn, device.venue_id, ids, day))
    rows = [_row(e, device, clock, offset, now) for e in batch if e.event_id in new]
    if rows:
        rows = _unique(rows)
        conn.execute(events.insert(), rows)
        add_scans(conn, rows)
        record_outgoing(conn, device.venue_id, rows)  # the feed's order and the webhooks' outbox (docs/feeds.md)
    return ids


def claim_ids(conn: Connection, venue_id: int, ids: list[str], day: Any) -> list[str]:
    """Record `ids` as held, claimed by `venue_id`; returns those that were not held before, at any venue.

    Left open: two uploads of one id by two venues in the same instant (the old and the new enrolment of one kiosk
    both uploading its backlog at once) could both find it free and both store it. Only a unique key on the event
    id alone would stop that, and Citus refuses such a key on a table distributed by venue. A re-sent batch comes
    after its first copy was answered or its answer lost: that case is covered."""
    held = set(conn.execute(select(event_keys.c.event_id).where(_among(conn, ids))).scalars())
    fresh = [i for i in ids if i not in held]
    if not fresh:
        return []
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(event_keys)
        .on_conflict_do_nothing(index_elements=["event_id", "venue_id"])
        .returning(event_keys.c.event_id)
    )
    claims = [{"event_id": i, "venue_id": venue_id, "received_day": day} for i in fresh]
    return [row[0] for row in conn.execute(statement, claims)]


def _among(conn: Connection, ids: list[str]) -> ColumnElement[bool]:
    """event_id among `ids`: one array parameter on PostgreSQL (half the time of IN with 500 parameters, 5 ms
    against 9 to 11 ms for a batch among a million claims), IN elsewhere."""
    if conn.dialect.name == "postgresql":
        return event_keys.c.event_id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(String)))
    return event_keys.c.event_id.in_(ids)


def _row(event: EventIn, device: Device, clock: DeviceTime, offset: float, now: datetime) -> dict[str, Any]:
    time, synced = corrected_time(event, clock, offset, now)
    return {
        "event_id": event.event_id,
        "received_day": now.date(),
        "device_id": device.id,
        "venue_id": device.venue_id,
        "boot_id": event.boot_id,
        "seq": event.seq,
        "wall_time": event.wall_time,
        "mono_time": event.mono_time,
        "time": time,
        "time_synced": synced,
        "received_at": now,
        "direction": event.direction,
        "kind": event.kind,
        "subject_key": event.subject_key,
        "decision": event.decision,
        "reason": event.reason,
        "decoder": event.decoder,
        "latency_ms": event.latency_ms,
    }


def corrected_time(event: EventIn, clock: DeviceTime, offset: float, now: datetime) -> tuple[datetime, bool]:
    """The event's best time: its own if the device clock was synchronised; else from the monotonic clock of
    the same boot (exact); else its wall time shifted by the device's present offset (approximate)."""
    if event.clock_synced:
        return _at(event.wall_time, now), True
    if event.boot_id == clock.boot_id:
        return now - timedelta(seconds=max(0.0, clock.mono - event.mono_time)), True
    return _at(event.wall_time + offset, now), False


def _at(epoch: float, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(row["event_id"], row)
    return list(seen.values())
