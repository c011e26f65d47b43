"""What the centre tells a venue's gates about each other (docs/venue-state.md): the other gates and their device
keys, the passages they let through, and which gate claimed the first entry on a single-use pass.

A claim is a row with a unique key (venue, subject key): of two gates asking at the same moment, the database
lets one insert; the same gate asking again (its answer was lost) is told it is first again, so no gate is locked
out by a lost message and no second gate is ever told yes.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from central.errors import CentralError
from central.schema import devices, events, single_use_claims
from central.timeutil import aware

WINDOW = timedelta(days=1)  # what anti-passback, occupancy and a day's single-use passes need
PAGE = 1000


def peers_of(conn: Connection, venue_id: int, device_id: str) -> list[dict[str, str]]:
    """The venue's other gates, enrolled and not revoked, with the public keys their messages are checked with."""
    rows = conn.execute(
        select(devices.c.id, devices.c.public_key)
        .where(devices.c.venue_id == venue_id, devices.c.id != device_id, devices.c.revoked_at.is_(None))
        .order_by(devices.c.id)
    )
    return [{"device_id": row.id, "public_key": base64.b64encode(row.public_key).decode()} for row in rows]


def venue_passages(
    conn: Connection, venue_id: int, device_id: str, cursor: str, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """The ACCEPT passages of the venue's other gates received after `cursor` (the last day's for ""), oldest
    received first, at most PAGE; and the cursor to ask from next."""
    since = now - WINDOW
    query = (
        select(
            events.c.event_id,
            events.c.device_id,
            events.c.subject_key,
            events.c.direction,
            events.c.time,
            events.c.kind,
            events.c.reason,
            events.c.received_at,
        )
        .where(
            events.c.venue_id == venue_id,
            events.c.received_day >= since.date(),  # on PostgreSQL, only the last days' partitions are read
            events.c.time >= since,
            events.c.decision == "ACCEPT",
            events.c.subject_key.is_not(None),
            or_(events.c.device_id != device_id, events.c.device_id.is_(None)),
        )
        .order_by(events.c.received_at, events.c.event_id)
        .limit(PAGE)
    )
    if cursor:
        received, event_id = _cursor(cursor)
        query = query.where(tuple_(events.c.received_at, events.c.event_id) > tuple_(received, event_id))
    passages, last = [], cursor
    for row in conn.execute(query):
        passages.append(
            {
                "event_id": row.event_id,
                "device_id": row.device_id or "",
                "subject_key": row.subject_key,
                "direction": row.direction,
                "wall_time": _aware(row.time).timestamp(),  # the centre's corrected time: one clock for all gates
                "kind": row.kind,
                "reason": row.reason,
            }
        )
        last = f"{_aware(row.received_at).isoformat()}|{row.event_id}"
    return passages, last


def claim(
    conn: Connection, venue_id: int, device_id: str, subject_key: str, now: datetime
) -> tuple[bool, str | None, datetime | None]:
    """(first, the gate that has it, since when) for a single-use pass: first if no other gate of the venue
    claimed it or let it in (its events), and then recorded as this gate's."""
    entered = conn.execute(
        select(events.c.device_id, events.c.time)
        .where(
            events.c.subject_key == subject_key,
            events.c.venue_id == venue_id,
            events.c.decision == "ACCEPT",
            events.c.direction == "in",
            or_(events.c.device_id != device_id, events.c.device_id.is_(None)),
        )
        .limit(1)
    ).first()
    if entered is not None:
        return False, entered.device_id, _aware(entered.time)
    values = {"venue_id": venue_id, "subject_key": subject_key, "device_id": device_id, "claimed_at": now}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(single_use_claims).values(**values).on_conflict_do_nothing())
    holder = conn.execute(
        select(single_use_claims.c.device_id, single_use_claims.c.claimed_at).where(
            and_(single_use_claims.c.venue_id == venue_id, single_use_claims.c.subject_key == subject_key)
        )
    ).one()
    first = holder.device_id == device_id
    return first, None if first else holder.device_id, None if first else _aware(holder.claimed_at)


def _cursor(text: str) -> tuple[datetime, str]:
    received, _, event_id = text.partition("|")
    try:
        moment = datetime.fromisoformat(received)
    except ValueError:
        raise CentralError("after: not a cursor this server gave") from None
    if moment.tzinfo is None or not event_id or len(event_id) > 64:
        raise CentralError("after: not a cursor this server gave")
    return moment.astimezone(UTC), event_id


def _aware(value: datetime | None) -> datetime:
    moment = aware(value)
    assert moment is not None
    return moment
