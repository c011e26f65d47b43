"""Bulk set-up (docs/rollout.md, section 1): a venue's street address, optional, which venues.csv may give and
the enrolment sheet prints so that the technician finds the gate. A place's address, never a person's.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("venues", sa.Column("address", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("venues") as table:
        table.drop_column("address")
