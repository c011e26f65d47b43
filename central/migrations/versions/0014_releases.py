"""Signed releases of the kiosk software (docs/updates.md, "At the centre"): each release added, with its signed
document and where its bundle is kept, and the rollout that offers one of them to a share of the kiosks.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False, unique=True),
        sa.Column("bundle", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.Column("added_by", sa.String(96), nullable=False),
        sa.Column("rollout", sa.String(8), nullable=True),
        sa.Column("percent", sa.Integer, nullable=True),
        sa.Column("unit_ids", sa.JSON, nullable=True),
        sa.Column("rollout_at", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("releases")
