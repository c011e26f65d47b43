"""Status list versions and tombstones, so kiosks fetch only what changed since their copy.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("status_entries") as table:
        table.add_column(sa.Column("version", sa.BigInteger, nullable=False, server_default="0"))
        table.add_column(sa.Column("cleared", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("status_entries_version", "status_entries", ["version"])


def downgrade() -> None:
    op.drop_index("status_entries_version", "status_entries")
    with op.batch_alter_table("status_entries") as table:
        table.drop_column("cleared")
        table.drop_column("version")
