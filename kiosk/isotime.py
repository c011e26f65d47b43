"""ISO 8601 times as they come in credentials and lists: "Z" accepted, a time without zone taken as UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_iso(value: str) -> datetime:
    """A timezone-aware datetime; ValueError if `value` is not ISO 8601."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
