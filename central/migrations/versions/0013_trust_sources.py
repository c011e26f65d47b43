"""Trust-list sources (docs/trust-list.md, "Sources"): the signed lists of DSCs the centre fetches (the EU gateway,
a national list), each with its URL and pinned anchor key; and on each trust entry the source it came from, so
that a source's next list replaces its own entries without touching the others or hand-imported ones (NULL).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trust_sources",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("anchor", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("fetched_at", TZ, nullable=True),
        sa.Column("fetched_sha256", sa.String(64), nullable=True),
        sa.Column("entry_count", sa.Integer, nullable=True),
    )
    op.add_column("trust_entries", sa.Column("source", sa.String(64), nullable=True))
    op.create_index("trust_entries_source", "trust_entries", ["source"])


def downgrade() -> None:
    op.drop_index("trust_entries_source", "trust_entries")
    with op.batch_alter_table("trust_entries") as table:
        table.drop_column("source")
    op.drop_table("trust_sources")
