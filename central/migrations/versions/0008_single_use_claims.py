"""Single-use claims (docs/venue-state.md): which gate of a venue claimed the first entry on a single-use pass,
one row per (venue, subject key), so that of two gates asking at the same moment only one is told it is first.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "single_use_claims",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "subject_key"),
    )
    op.create_index("single_use_claims_at", "single_use_claims", ["claimed_at"])


def downgrade() -> None:
    op.drop_table("single_use_claims")
