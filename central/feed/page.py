"""One page of the feed: the events after a cursor, in ingest order, as a keyset range scan.

The page is read from `event_feed` by its index (txid, seq), or (venue_id, txid, seq) for a venue's client, from
the cursor on with LIMIT, never an OFFSET: its cost is the page's size, not the feed's. Only then are the page's
events read, by primary key, in a second query (a join let the planner scan whole partitions). A unit's client
reads the (txid, seq) index filtered by its venues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, tuple_

from central.feed.cursor import decode, encode
from central.feed.log import horizon
from central.feed.payload import documents
from central.feed.scope import Scope
from central.webhooks.tables import event_feed

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_cursor: str
    more: bool

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events, "next_cursor": self.next_cursor, "more": self.more}


def read_page(conn: Connection, scope: Scope, after: str, limit: int) -> Page:
    """The events of `scope` after the cursor `after`, at most `limit`; `next_cursor` resumes after them (the
    same cursor when there is nothing new)."""
    txid, seq = decode(after)
    keys = select(event_feed).where(tuple_(event_feed.c.txid, event_feed.c.seq) > tuple_(txid, seq))
    limit_txid = horizon(conn)
    if limit_txid is not None:
        keys = keys.where(event_feed.c.txid < limit_txid)
    venue_ids = scope.venue_ids(conn)
    if scope.venue_id is not None:
        keys = keys.where(event_feed.c.venue_id == scope.venue_id)
    elif venue_ids is not None:
        keys = keys.where(event_feed.c.venue_id.in_(venue_ids or [-1]))
    rows = list(conn.execute(keys.order_by(event_feed.c.txid, event_feed.c.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    found = documents(conn, rows)
    cursor = encode(rows[-1].txid, rows[-1].seq) if rows else (after or encode(txid, seq))
    return Page(found, cursor, more)
