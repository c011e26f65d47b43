"""Remote diagnostics (docs/updates.md): a technician's requests to kiosks, and their answers.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "diagnostics",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("log_lines", sa.Integer, nullable=False),
        sa.Column("requested_at", TZ, nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("answer", sa.JSON, nullable=True),
    )
    op.create_index("diagnostics_device", "diagnostics", ["device_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("diagnostics_device", "diagnostics")
    op.drop_table("diagnostics")
