"""Event sequence numbers as 64-bit integers.

A kiosk numbers its events per boot from 1, but after salvaging a damaged database it goes on past the boot's
monotonic clock in microseconds (kiosk/store/salvage.py), which passes 2**31 after 36 minutes of uptime. The API
takes sequence numbers up to 2**62; PostgreSQL's INTEGER stops at 2**31 - 1, and an upload past it was a server
error the kiosk would retry for ever. SQLite's INTEGER is 64-bit already, so only PostgreSQL changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # on the partitioned parent: PostgreSQL changes every partition
        op.alter_column("events", "seq", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "seq", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=True)
