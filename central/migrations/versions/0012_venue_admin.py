"""Venue admin pages (docs/rollout.md, section 2, central/venues/): a venue can be retired (kept with its history,
its kiosks revoked), its code and name are searchable without diacritics, and a venue's history is read from an
index (`audit_log_subject`) however long the audit log grows.

No index is added on `devices` for the pages: `venue_id`'s (0001) already finds a venue's few kiosks (PostgreSQL's
planner chose it even with (venue_id, revoked_at, last_seen_at) there), and one on `last_seen_at` would be rewritten
by every heartbeat (50,000 kiosks, one a minute each; on PostgreSQL it also keeps those updates from being HOT).
bench/venue_pages_bench.py: 10 % more time per heartbeat on SQLite with it; every page under 20 ms p95 without it.

`folded` is left NULL here: before a search, central/venues/search.py folds every venue whose `folded_from` is not
its name (none yet, or renamed since by another path: the command line, venues.csv), so every venue is found by its
current name whoever wrote it.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("venues", sa.Column("retired_at", TZ, nullable=True))
    op.add_column("venues", sa.Column("folded", sa.Text(), nullable=True))
    op.add_column("venues", sa.Column("folded_from", sa.Text(), nullable=True))
    op.create_index("audit_log_subject", "audit_log", ["subject", "id"])


def downgrade() -> None:
    op.drop_index("audit_log_subject", "audit_log")
    with op.batch_alter_table("venues") as table:
        table.drop_column("folded_from")
        table.drop_column("folded")
        table.drop_column("retired_at")
