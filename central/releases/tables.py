"""The `releases` table (migration 0014), declared on the schema's `metadata` so that the migrations test compares
it with the rest.

One row per release added: its version (unique), the bundle's file name, SHA-256 and size, the manifest and the
signed document as given (the document is what a kiosk is handed and checks itself), who added it and when. The
rollout is kept on the release's row: `rollout` is None (never rolled out), "active", "paused" or "stopped"; at
most one row is active or paused at a time (central/releases/rollout.py). `percent` and `unit_ids` name the cohort.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Integer, String, Table

from central.schema import metadata

TZ = DateTime(timezone=True)

ACTIVE, PAUSED, STOPPED = "active", "paused", "stopped"

releases = Table(
    "releases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version", String(64), nullable=False, unique=True),
    Column("bundle", String(128), nullable=False),  # the file name under <state dir>/releases/
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("manifest", JSON, nullable=False),
    Column("document", JSON, nullable=False),  # the signed release document, as added
    Column("added_at", TZ, nullable=False),
    Column("added_by", String(96), nullable=False),
    Column("rollout", String(8), nullable=True),  # None, active, paused, stopped
    Column("percent", Integer, nullable=True),  # 0 to 100 of the kiosks, by a hash of device id and version
    Column("unit_ids", JSON, nullable=True),  # and the kiosks of these units' subtrees
    Column("rollout_at", TZ, nullable=True),  # when the rollout last changed
)
