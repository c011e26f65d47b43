"""The tables of passages out of the centre (migration 0009, docs/feeds.md), declared on the schema's `metadata`
so that the migrations test compares them with the rest.

- `event_feed`: one row per event stored by ingest, numbered in ingest order: what the pull feed pages through
  and what the webhook outbox points at. On PostgreSQL each row also carries the id of the transaction that
  stored it (`txid`), so that the feed never serves a row while an earlier-numbered one may still commit.
- `webhook_endpoints`: where to POST, with what secret, for which unit subtree or venue, which fields; and its
  delivery state (consecutive failures, next attempt, the batch in flight, the lease of the worker sending it).
- `webhook_outbox`: one row per (endpoint, event) still to deliver; deleted when the receiver acknowledges.
- `feed_clients`: pull consumers: a name, the SHA-256 of their token, their scope.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from central.schema import metadata

TZ = DateTime(timezone=True)
SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite: INTEGER PRIMARY KEY, the rowid, 64-bit

event_feed = Table(
    "event_feed",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("txid", BigInteger, nullable=False),  # PostgreSQL: the storing transaction's id; SQLite: 0
    Column("event_id", String(36), nullable=False),
    Column("received_day", Date, nullable=False),
    Column("venue_id", Integer, nullable=False),
    Index("event_feed_order", "txid", "seq"),
    Index("event_feed_venue_order", "venue_id", "txid", "seq"),
    Index("event_feed_received_day", "received_day"),
    sqlite_autoincrement=True,  # a number is never given twice, even after the newest rows are removed
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("secret", String(128), nullable=False),  # needed in clear to sign; not personal data
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=True),  # the unit's whole subtree
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=True),  # or one venue
    Column("fields", JSON, nullable=False),  # the event fields it receives (event_id always)
    Column("created_at", TZ, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),  # in a row, since the last success
    Column("next_attempt_at", TZ, nullable=True),  # None: now
    Column("lease_until", TZ, nullable=True),  # a worker is sending its batch until then
    Column("batch_key", String(36), nullable=True),  # the batch in flight: its Idempotency-Key
    Column("last_success_at", TZ, nullable=True),
    Column("last_error_at", TZ, nullable=True),
    Column("last_error", Text, nullable=True),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("endpoint_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),  # the event's event_feed.seq
    Column("received_day", Date, nullable=False),  # for retention
    Column("batch_key", String(36), nullable=True),  # set when the row joins a batch; kept across retries
    PrimaryKeyConstraint("endpoint_id", "seq"),
    Index("webhook_outbox_batch", "endpoint_id", "batch_key"),
    Index("webhook_outbox_received_day", "received_day"),
)

feed_clients = Table(
    "feed_clients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256: a database dump reads no feed
    Column("unit_id", Integer, ForeignKey("units.id"), nullable=True),
    Column("venue_id", Integer, ForeignKey("venues.id"), nullable=True),
    Column("created_at", TZ, nullable=False),
    Column("revoked_at", TZ, nullable=True),
    Column("last_used_at", TZ, nullable=True),
)
