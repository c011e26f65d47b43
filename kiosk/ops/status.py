"""`kiosk status`: what a technician or a fleet script needs to know at a glance, without personal data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.store import EventStore
from kiosk.sync.effective import with_enrolment


def gather_status(config: KioskConfig) -> dict[str, Any]:
    """Counts from the event database (read-only, while the kiosk runs) and the clock's state."""
    config, enrolment = with_enrolment(config)
    clock = SystemClock()
    report: dict[str, Any] = {
        "device": config.device.id,
        "venue": config.device.venue,
        "database": str(config.database_path),
        "events": 0,
        "unsent": 0,
        "quarantined": 0,
        "oldest_unsent": None,
        "server": enrolment.server if enrolment else None,
        "recent": [],
        "clock": {"synchronised": clock.synchronised(), "now": iso(clock.wall()), "boot_id": clock.boot_id},
    }
    if not config.database_path.exists():
        report["note"] = "no database yet: the kiosk has not run with this state directory"
        return report
    store = EventStore(config.database_path, read_only=True)
    try:
        status = store.status()
    finally:
        store.close()
    report.update(
        events=status.events,
        unsent=status.unsent,
        quarantined=status.quarantined,
        oldest_unsent=iso(status.oldest_unsent),
    )
    report["recent"] = [{**row, "wall_time": iso(row["wall_time"])} for row in status.recent]
    return report


def render_status(report: dict[str, Any]) -> str:
    clock = report["clock"]
    lines = [
        f"device {report['device']} at {report['venue']}  ({report['database']})",
        f"events {report['events']}, unsent {report['unsent']}, quarantined {report['quarantined']}"
        + (f" (oldest {report['oldest_unsent']})" if report["oldest_unsent"] else ""),
        f"clock {'synchronised' if clock['synchronised'] else 'NOT synchronised'}: {clock['now']}",
    ]
    if report.get("note"):
        lines.append(report["note"])
    for row in report["recent"]:
        synced = "" if row["clock_synced"] else " (clock unsynchronised)"
        lines.append(
            f"  #{row['seq']} {row['wall_time']}{synced} {row['direction']} {row['kind']}: "
            f"{row['decision']} {row['reason']} ({row['latency_ms']:.1f} ms)"
        )
    return "\n".join(lines)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
