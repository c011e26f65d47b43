"""Passages out of the centre (docs/feeds.md): the ingest-ordered event feed, signed webhooks with their durable
outbox, and the pull feed's client tokens.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_feed",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("txid", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("received_day", sa.Date, nullable=False),
        sa.Column("venue_id", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("event_feed_order", "event_feed", ["txid", "seq"])
    op.create_index("event_feed_venue_order", "event_feed", ["venue_id", "txid", "seq"])
    op.create_index("event_feed_received_day", "event_feed", ["received_day"])
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("batch_key", sa.String(36), nullable=True),
        sa.Column("last_success_at", TZ, nullable=True),
        sa.Column("last_error_at", TZ, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("received_day", sa.Date, nullable=False),
        sa.Column("batch_key", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("endpoint_id", "seq"),
    )
    op.create_index("webhook_outbox_batch", "webhook_outbox", ["endpoint_id", "batch_key"])
    op.create_index("webhook_outbox_received_day", "webhook_outbox", ["received_day"])
    op.create_table(
        "feed_clients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("last_used_at", TZ, nullable=True),
    )


def downgrade() -> None:
    for table in ("feed_clients", "webhook_outbox", "webhook_endpoints", "event_feed"):
        op.drop_table(table)
