"""Visits (docs/access-list.md): a visitor the guard let in at a gate, whom they visit and why, as the kiosk
uploads it. Keyed by venue first, like the access lists; the roll call reads a venue's visits of a day.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "visits",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("id_tail", sa.String(4), nullable=True),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "visit_id"),
    )
    op.create_index("visits_venue_opened", "visits", ["venue_id", "opened_at"])


def downgrade() -> None:
    op.drop_table("visits")
