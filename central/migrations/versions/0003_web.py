"""The centre's web side: staff accounts, sessions, login failures, the audit log, health declarations, and the
per-venue daily rollup of the deployment dashboard (filled by ingest and heartbeats from now on; `kiosk-central
rollup rebuild` recomputes it from the events already held).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.Integer, sa.ForeignKey("units.id"), nullable=True),
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("disabled_at", TZ, nullable=True),
        sa.Column("last_login_at", TZ, nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("last_seen_at", TZ, nullable=False),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", TZ, nullable=False, index=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TZ, nullable=False, index=True),
        sa.Column("actor", sa.String(96), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
    )
    op.create_table(
        "declarations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject_key", sa.String(32), nullable=False, index=True),
        sa.Column("declared_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("status", sa.String(6), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("contact_sealed", sa.LargeBinary, nullable=True),
    )
    op.create_table(
        "venue_days",
        sa.Column("venue_id", sa.Integer, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("scans", sa.Integer, nullable=False, server_default="0"),
        sa.Column("accepted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("heard", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("venue_id", "day"),
    )
    op.create_index("venue_days_day", "venue_days", ["day"])


def downgrade() -> None:
    op.drop_index("venue_days_day", "venue_days")
    for table in ("venue_days", "declarations", "audit_log", "login_failures", "web_sessions", "accounts"):
        op.drop_table(table)
