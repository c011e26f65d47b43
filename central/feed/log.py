"""The ingest-ordered record of stored events (`event_feed`): written by ingest in the transaction that stores the
events, read by the pull feed and pointed at by the webhooks' outbox.

Why a table of its own rather than a column of `events`: `events` is partitioned by day and keyed by its client
id, so it has no ingest order; one narrow row per event here gives one (an increasing number) with the indexes
the feed's keyset pages need, and is purged with the events (central/maintenance.py).

Why `txid` on PostgreSQL: two uploads commit concurrently, and the one that took the smaller number may commit
last. A reader that had paged past the larger number would never see the smaller one. So the feed orders by
(txid, seq) and serves only rows whose transaction id is below the oldest transaction still running
(`pg_snapshot_xmin`): every such transaction has ended, and no row can appear later below the cursor. On SQLite
writers take turns (one write lock), so numbers commit in order and txid is 0.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, literal, literal_column

from central.webhooks.tables import event_feed

PG_TXID = "pg_current_xact_id()::text::bigint"
PG_HORIZON = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"


def log_events(
    conn: Connection, venue_id: int, rows: list[dict[str, Any]], *, numbers: bool = True
) -> list[tuple[int, date]]:
    """Number the newly stored events `rows` (as ingest inserted them); returns their (seq, received_day) when
    `numbers` is true (an upload no webhook covers does not need them: RETURNING costs)."""
    if not rows:
        return []
    txid: ColumnElement[Any] = literal_column(PG_TXID) if conn.dialect.name == "postgresql" else literal(0)
    params = [{"event_id": r["event_id"], "received_day": r["received_day"], "venue_id": venue_id} for r in rows]
    if not numbers:
        conn.execute(event_feed.insert().values(txid=txid), params)
        return []
    statement = event_feed.insert().values(txid=txid).returning(event_feed.c.seq, event_feed.c.received_day)
    return [(int(seq), day) for seq, day in conn.execute(statement, params)]


def horizon(conn: Connection) -> ColumnElement[Any] | None:
    """The txid every served row must be below (PostgreSQL), or None (SQLite: every committed row)."""
    return literal_column(PG_HORIZON) if conn.dialect.name == "postgresql" else None


def purge_log(conn: Connection, cutoff: date) -> int:
    """Remove the feed rows of events received before `cutoff` (the events' own retention)."""
    return int(conn.execute(delete(event_feed).where(event_feed.c.received_day < cutoff)).rowcount)
