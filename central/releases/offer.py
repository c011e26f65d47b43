"""The `update` field of a device's config document: the release the active rollout offers it, or None.

A device is offered the active (not paused) rollout's release when it is in the cohort and does not already run
that version or a later one, as its last heartbeat says (`update.running`, else the heartbeat's `version`; a
device that never said is offered, and its kiosk compares versions itself anyway). The field is part of the
config document's version, so a kiosk sees the offer come and go by the ETag alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from central.releases.rollout import active_cohort
from central.schema import devices, venues
from central.unittree import UnitTree
from kiosk.update.manifest import ReleaseError, newer

BUNDLE_URL = "/api/v1/releases/{version}/bundle"


def update_offer(conn: Connection, device_id: str, venue_id: int) -> dict[str, Any] | None:
    """{"version", "release": the signed release document, "url": where its bundle is} or None."""
    found = active_cohort(conn)
    if found is None:
        return None
    cohort, document = found
    device = conn.execute(
        select(devices.c.last_heartbeat, venues.c.unit_id)
        .join(venues, venues.c.id == devices.c.venue_id)
        .where(devices.c.id == device_id, devices.c.venue_id == venue_id)
    ).first()
    if device is None:
        return None
    running = running_version(device.last_heartbeat)
    if running is not None and not _later(cohort.version, running):
        return None
    if _turned_down(device.last_heartbeat, cohort.version):
        return None  # the kiosk rolled it back or refused it: it will not take it, and need not be asked
    tree = UnitTree.load(conn) if cohort.unit_ids else None
    if not cohort.includes(device_id, device.unit_id, tree):
        return None
    return {"version": cohort.version, "release": document, "url": BUNDLE_URL.format(version=cohort.version)}


def running_version(heartbeat: Any) -> str | None:
    """The version a device runs by its last heartbeat: `update.running`, else `version`; None if it never said."""
    if not isinstance(heartbeat, dict):
        return None
    update = heartbeat.get("update")
    if isinstance(update, dict) and isinstance(update.get("running"), str):
        return str(update["running"])
    version = heartbeat.get("version")
    return version if isinstance(version, str) else None


def _turned_down(heartbeat: Any, version: str) -> bool:
    """The device's last heartbeat says it rolled `version` back, refused it, or failed to install it."""
    update = heartbeat.get("update") if isinstance(heartbeat, dict) else None
    return (
        isinstance(update, dict)
        and update.get("target") == version
        and update.get("state") in ("rolled-back", "refused", "failed")
    )


def _later(candidate: str, running: str) -> bool:
    """`candidate` is newer than `running`; a running version that is not one (a heartbeat's garbage) is unknown."""
    try:
        return newer(candidate, running)
    except ReleaseError:
        return True
