"""`release list`: every release with its rollout, and per version what the kiosks' last heartbeats say.

A heartbeat's `update` object (docs/updates.md) is `{"running", "state", "target", "error"}`. A device counts as
`running` the version it runs (whatever its state; a kiosk without an updater by its heartbeat's `version`), in
`probation` for the version it runs on probation, and `installing`, `rolled-back` or `refused` for the version
it was moving to (`target`). Revoked devices are left out. Versions the kiosks report but the centre never held
(the image's first release) are listed too, without release fields.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import Connection, select

from central.releases.offer import running_version
from central.releases.tables import releases
from central.schema import devices, units
from central.timeutil import aware

STATES = ("running", "installing", "probation", "rolled-back", "refused")
_TOWARDS = ("installing", "rolled-back", "refused")  # counted under the target version


def release_report(conn: Connection) -> list[dict[str, Any]]:
    """Newest version first: {"version", "held", "bundle", "sha256", "size", "added_at", "added_by", "rollout",
    "percent", "units", "rollout_at", "kiosks": {state: count}}."""
    counts = _kiosk_counts(conn)
    codes = {row.id: row.code for row in conn.execute(select(units.c.id, units.c.code))}
    found: dict[str, dict[str, Any]] = {}
    for row in conn.execute(select(releases)):
        found[row.version] = {
            "version": row.version,
            "held": True,
            "bundle": row.bundle,
            "sha256": row.sha256,
            "size": row.size,
            "added_at": _iso(row.added_at),
            "added_by": row.added_by,
            "rollout": row.rollout,
            "percent": row.percent,
            "units": [codes.get(int(u), f"#{u}") for u in row.unit_ids or ()],
            "rollout_at": _iso(row.rollout_at),
        }
    for version in counts.keys() - found.keys():
        found[version] = {"version": version, "held": False, **dict.fromkeys(_RELEASE_FIELDS)}
    report = [{**entry, "kiosks": {s: counts.get(v, {}).get(s, 0) for s in STATES}} for v, entry in found.items()]
    return sorted(report, key=lambda e: _order(e["version"]), reverse=True)


_RELEASE_FIELDS = ("bundle", "sha256", "size", "added_at", "added_by", "rollout", "percent", "units", "rollout_at")


def _kiosk_counts(conn: Connection) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (heartbeat,) in conn.execute(select(devices.c.last_heartbeat).where(devices.c.revoked_at.is_(None))):
        running = running_version(heartbeat)
        update = heartbeat.get("update") if isinstance(heartbeat, dict) else None
        state = update.get("state") if isinstance(update, dict) else None
        target = update.get("target") if isinstance(update, dict) else None
        if running is not None:
            counts[running[:64]]["running"] += 1
            if state == "probation":
                counts[running[:64]]["probation"] += 1
        if state in _TOWARDS and isinstance(target, str):
            counts[target[:64]][str(state)] += 1
    return counts


def _order(version: str) -> tuple[int, Version, str]:
    """PEP 440 order, what the kiosks compare by; a version that is not one sorts below every real one."""
    try:
        return (1, Version(version), "")
    except InvalidVersion:
        return (0, Version("0"), version)


def _iso(value: datetime | None) -> str | None:
    stamp = aware(value)
    return stamp.isoformat() if stamp is not None else None
