"""What ingest calls, once per upload, in the transaction that stores the events: the events are numbered in the
feed (central/feed/log.py) and queued for every webhook endpoint whose scope covers their venue. So an outbox
row exists if and only if its event does: both commit or neither.

The endpoints are read whole (a deployment has a handful); the unit tree only when one is scoped to a unit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, select

from central.feed.log import log_events, purge_log
from central.feed.scope import Scope, unit_path_of_venue
from central.webhooks.tables import webhook_endpoints, webhook_outbox


def record_outgoing(conn: Connection, venue_id: int, rows: list[dict[str, Any]]) -> None:
    """Number the newly stored events `rows` of `venue_id` and queue them for the endpoints that cover it."""
    if not rows:
        return
    targets = endpoints_for(conn, venue_id)
    numbered = log_events(conn, venue_id, rows, numbers=bool(targets))
    if targets:
        queued = [{"endpoint_id": e, "seq": seq, "received_day": day} for e in targets for seq, day in numbered]
        conn.execute(webhook_outbox.insert(), queued)


def endpoints_for(conn: Connection, venue_id: int) -> list[int]:
    """The ids of the endpoints whose scope covers the venue."""
    query = select(webhook_endpoints.c.id, webhook_endpoints.c.unit_id, webhook_endpoints.c.venue_id)
    endpoints = [(row.id, Scope(row.unit_id, row.venue_id)) for row in conn.execute(query)]
    if not endpoints:
        return []
    path = unit_path_of_venue(conn, venue_id) if any(s.unit_id is not None for _, s in endpoints) else []
    return [endpoint for endpoint, scope in endpoints if scope.covers(path, venue_id)]


def purge_outgoing(conn: Connection, cutoff: date) -> int:
    """Retention: feed rows and undelivered outbox rows of events received before `cutoff` go with the events."""
    removed = conn.execute(delete(webhook_outbox).where(webhook_outbox.c.received_day < cutoff)).rowcount
    return int(removed) + purge_log(conn, cutoff)
