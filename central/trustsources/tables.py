"""The `trust_sources` table (migration 0013), declared on the schema's `metadata` so that the migrations test
compares it with the rest. The anchor is stored, not its file's path: the centre must verify the next list with
the key it was configured with, even after the file given to `trust source add` is gone or changed."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from central.schema import metadata

TZ = DateTime(timezone=True)

trust_sources = Table(
    "trust_sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=True),  # None: fetched from files only (`trust fetch NAME --file F`)
    Column("format", String(16), nullable=False),  # signed-list or dccg
    Column("anchor", Text, nullable=False),  # PEM: the public key, or the CSCA certificates (dccg)
    Column("created_at", TZ, nullable=False),
    Column("fetched_at", TZ, nullable=True),  # the last list verified and imported
    Column("fetched_sha256", String(64), nullable=True),  # of that list's bytes, to compare with the publisher's
    Column("entry_count", Integer, nullable=True),  # the DSCs it gave
)
