"""The copies' upkeep on the national centre: what `serve`'s maintenance does for a province's own events.

Each copy's `events` is partitioned by day like the province's (the same migrations made it): a day without its
partition goes to `events_default`, so partitions are made a week ahead; with a retention, the days past it are
dropped whole. The national retention is the national centre's own decision (docs/scale.md): a province's
deletes are not published, so a copy keeps what its province has already dropped until this drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import Engine

from central.partitions import ensure_partitions, purge_before


def maintain(
    copies: Mapping[str, Engine], now: datetime, retention_days: int | None
) -> dict[str, tuple[list[str], int]]:
    """For each province's copy: the partitions made, and the partitions dropped (or rows removed)."""
    done = {}
    for province, engine in sorted(copies.items()):
        made = ensure_partitions(engine, now.date())
        dropped = purge_before(engine, (now - timedelta(days=retention_days)).date()) if retention_days else 0
        done[province] = (made, dropped)
    return done
