"""Access lists (docs/access-list.md): each venue's groups (weekly windows, validity, gates), its people by subject
key with their names sealed, who is in which group, and the list's version per venue, which the kiosks' ETag is.

Every key starts with the venue: the tables can be distributed by venue, and no foreign key reaches the events.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "access_versions",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_table(
        "access_groups",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("windows", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=True),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("gates", sa.JSON, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "id"),
        sa.UniqueConstraint("venue_id", "name", name="access_groups_venue_name"),
    )
    op.create_table(
        "access_people",
        sa.Column("venue_id", sa.Integer, sa.ForeignKey("venues.id"), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=False),
        sa.Column("name_sealed", sa.LargeBinary, nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "subject_key"),
    )
    op.create_table(
        "access_members",
        sa.Column("venue_id", sa.Integer, nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=False),
        sa.Column("group_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("venue_id", "subject_key", "group_id"),
        sa.ForeignKeyConstraint(
            ["venue_id", "subject_key"],
            ["access_people.venue_id", "access_people.subject_key"],
            name="access_members_person",
        ),
        sa.ForeignKeyConstraint(
            ["venue_id", "group_id"], ["access_groups.venue_id", "access_groups.id"], name="access_members_group"
        ),
    )


def downgrade() -> None:
    for table in ("access_members", "access_people", "access_groups", "access_versions"):
        op.drop_table(table)
