"""Access passes (docs/pass-format.md, AC1:): each badge, visitor pass and ticket the centre issued, to revoke it
and to find a single-use pass let in twice. Keyed by venue first, like the access lists.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_passes",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("pass_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(8), nullable=False),
        sa.Column("holder", sa.String(32), nullable=True),
        sa.Column("recorded_as", sa.String(32), nullable=False),
        sa.Column("single_use", sa.Boolean, nullable=False),
        sa.Column("valid_from", TZ, nullable=False),
        sa.Column("valid_until", TZ, nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("venue_id", "pass_id"),
    )
    op.create_index("access_passes_id", "access_passes", ["pass_id"])
    op.create_index("access_passes_recorded", "access_passes", ["venue_id", "recorded_as"])


def downgrade() -> None:
    op.drop_table("access_passes")
