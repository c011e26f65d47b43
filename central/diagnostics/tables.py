"""The `diagnostics` table (migration 0015), on the schema's `metadata`: one row per request, its answer when it
came. Answers hold the doctor's report and log lines, which carry no personal data (the kiosk never logs QR text,
names or ID numbers); they are kept 30 days."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, Integer, String, Table

from central.schema import metadata

TZ = DateTime(timezone=True)

diagnostics = Table(
    "diagnostics",
    metadata,
    Column("id", String(36), primary_key=True),  # a UUID: the kiosk echoes it with its answer
    Column("device_id", String(64), nullable=False),
    Column("log_lines", Integer, nullable=False),
    Column("requested_at", TZ, nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("answered_at", TZ, nullable=True),
    Column("answer", JSON, nullable=True),
    Index("diagnostics_device", "device_id", "requested_at"),
)
