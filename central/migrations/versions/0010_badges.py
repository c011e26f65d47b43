"""Badge numbers (docs/access-list.md): the card number a venue's access panel already knows a person by, so that
a kiosk reporting to the panel over OSDP (docs/osdp.md) can present the person as that card. One per person and
venue, unique within the venue.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("access_people", sa.Column("badge", sa.String(20), nullable=True))
    op.create_index("access_people_badge", "access_people", ["venue_id", "badge"], unique=True)


def downgrade() -> None:
    op.drop_index("access_people_badge", "access_people")
    with op.batch_alter_table("access_people") as table:
        table.drop_column("badge")
