"""The rollout: which release the centre offers, and to which kiosks. One at a time, so that a fleet is never
moved towards two versions at once: starting a rollout stops the one before.

The cohort is chosen without a list of devices: a kiosk is in it when its venue's unit is in the subtree of a
unit the rollout names, or when a hash of its device id and the version falls under the percentage. The hash
keeps the same kiosks in as the percentage is raised (10 % are among the 50 %), picks other kiosks for the next
version (so the same few do not take every first step), and needs no state kept per device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select, text, update

from central.errors import CentralError, NotFound
from central.releases.tables import ACTIVE, PAUSED, STOPPED, releases
from central.schema import units
from central.unittree import UnitTree


@dataclass(frozen=True)
class Cohort:
    version: str
    percent: int
    unit_ids: tuple[int, ...]

    def includes(self, device_id: str, unit_id: int, tree: UnitTree | None) -> bool:
        """Whether a device at a venue of `unit_id` is offered the version (`tree` needed only with units)."""
        if in_percent(device_id, self.version, self.percent):
            return True
        return tree is not None and any(tree.contains(root, unit_id) for root in self.unit_ids)


def in_percent(device_id: str, version: str, percent: int) -> bool:
    digest = hashlib.sha256(f"{device_id}:{version}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < percent


def start(
    conn: Connection, version: str, percent: int | None, unit_codes: Sequence[str], now: datetime
) -> tuple[str | None, dict[str, Any]]:
    """Offer `version` to `percent` of the kiosks and those of the units named; the version whose rollout this
    stopped, if another was going; and what was set (for the audit log)."""
    if percent is None and not unit_codes:
        raise CentralError("say to whom: --percent N (0 to 100) and/or --unit CODE")
    if percent is not None and not 0 <= percent <= 100:
        raise CentralError(f"--percent {percent}: from 0 to 100")
    _lock(conn)
    _held(conn, version)
    unit_ids = [_unit_id(conn, code) for code in dict.fromkeys(unit_codes)]
    going = (
        conn.execute(
            select(releases.c.version).where(releases.c.rollout.in_((ACTIVE, PAUSED)), releases.c.version != version)
        )
        .scalars()
        .all()
    )
    stopped = None
    for other in going:
        conn.execute(update(releases).where(releases.c.version == other).values(rollout=STOPPED, rollout_at=now))
        stopped = other
    conn.execute(
        update(releases)
        .where(releases.c.version == version)
        .values(rollout=ACTIVE, percent=percent or 0, unit_ids=unit_ids, rollout_at=now)
    )
    return stopped, {"percent": percent or 0, "units": list(dict.fromkeys(unit_codes)), "stopped": stopped}


def pause(conn: Connection, version: str, now: datetime) -> None:
    """No kiosk is offered `version` from now on; those that have it keep it (a pause is no rollback)."""
    _change(conn, version, ACTIVE, PAUSED, now, "pause it")


def resume(conn: Connection, version: str, now: datetime) -> None:
    _change(conn, version, PAUSED, ACTIVE, now, "resume it")


def stop(conn: Connection, version: str, now: datetime) -> None:
    """End the rollout of `version`: offered no more (start it again with `release rollout`)."""
    _lock(conn)
    state = _held(conn, version).rollout
    if state not in (ACTIVE, PAUSED):
        raise CentralError(f"release {version} is not being rolled out ({_said(state)}): nothing to stop")
    conn.execute(update(releases).where(releases.c.version == version).values(rollout=STOPPED, rollout_at=now))


def active_cohort(conn: Connection) -> tuple[Cohort, Any] | None:
    """The rollout being offered now (active, not paused) and its signed release document; None when none is."""
    row = conn.execute(
        select(releases.c.version, releases.c.document, releases.c.percent, releases.c.unit_ids)
        .where(releases.c.rollout == ACTIVE)
        .order_by(releases.c.rollout_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Cohort(row.version, int(row.percent or 0), tuple(int(u) for u in row.unit_ids or ())), row.document


def _change(conn: Connection, version: str, before: str, after: str, now: datetime, doing: str) -> None:
    _lock(conn)
    state = _held(conn, version).rollout
    if state != before:
        raise CentralError(f"release {version} is {_said(state)}, not {before}: cannot {doing}")
    conn.execute(update(releases).where(releases.c.version == version).values(rollout=after, rollout_at=now))


def _said(state: str | None) -> str:
    return state or "never rolled out"


def _held(conn: Connection, version: str) -> Row[Any]:
    row = conn.execute(select(releases.c.rollout).where(releases.c.version == version)).first()
    if row is None:
        raise NotFound(f"no release {version[:64]!r} held here: add it first (kiosk-central release add)")
    return row


def _unit_id(conn: Connection, code: str) -> int:
    found = conn.execute(select(units.c.id).where(units.c.code == code)).scalar()
    if found is None:
        raise NotFound(f"--unit {code[:64]!r}: no such administrative unit")
    return int(found)


def _lock(conn: Connection) -> None:
    """Rollout changes one at a time (PostgreSQL; SQLite has one writer anyway): two started at once would
    otherwise both be left active."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("LOCK TABLE releases IN SHARE ROW EXCLUSIVE MODE"))
