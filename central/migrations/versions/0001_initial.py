"""Initial schema: units, venues, devices, enrolment and auth, events (partitioned on PostgreSQL), lists.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True, index=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "venues",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=False, index=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("policy", sa.JSON, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False, index=True),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("enrolled_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("last_seen_at", TZ, nullable=True),
        sa.Column("last_heartbeat", sa.JSON, nullable=True),
        sa.Column("clock_offset_s", sa.Float, nullable=True),
    )
    op.create_table(
        "enroll_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("device_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "auth_nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("expires_at", TZ, nullable=False),
    )
    op.create_table(
        "event_keys",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("received_day", sa.Date, nullable=False, index=True),
    )
    _events()
    op.create_table(
        "status_entries",
        sa.Column("subject_key", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(6), nullable=False),
        sa.Column("until", TZ, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "trust_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("section", sa.String(16), nullable=False),
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Column("added_at", TZ, nullable=False),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def _events() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("received_day", sa.Date, nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("venue_id", sa.Integer, nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=True),
        sa.Column("seq", sa.Integer, nullable=True),
        sa.Column("wall_time", sa.Float, nullable=True),
        sa.Column("mono_time", sa.Float, nullable=True),
        sa.Column("time", TZ, nullable=False),
        sa.Column("time_synced", sa.Boolean, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=True),
        sa.Column("decision", sa.String(6), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("decoder", sa.String(16), nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("event_id", "received_day"),
        postgresql_partition_by="RANGE (received_day)",
    )
    op.create_index("events_subject_time", "events", ["subject_key", "time"])
    op.create_index("events_venue_time", "events", ["venue_id", "time"])
    if op.get_bind().dialect.name == "postgresql":
        # Rows for days without a partition yet land here; partitions are made ahead (central.partitions).
        op.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")


def downgrade() -> None:
    for table in ("settings", "trust_entries", "status_entries", "events", "event_keys", "auth_tokens"):
        op.drop_table(table)
    for table in ("auth_nonces", "enroll_codes", "devices", "venues", "units"):
        op.drop_table(table)
