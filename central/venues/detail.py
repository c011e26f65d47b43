"""One venue for its page: its details and its kiosks, each with what its last heartbeat told (`devices.
last_heartbeat`, kept as sent by central/devices.py's `record_heartbeat`): version, backlog, oldest unsent, and
its faults in words.

A heartbeat is the kiosk's own JSON (the API checks `backlog` and a few fields, and keeps the rest as it came), so
every other value is read defensively: a field of an unexpected type is left out, never a failed page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, case, select

from central.progress import ONLINE_WINDOW
from central.schema import devices, units, venues
from central.timeutil import aware

KIOSK_LIMIT = 200  # kiosks shown on a venue's page, those not revoked first
LOW_DISK_MB = 200

Words = tuple[str, str]  # (Vietnamese, English)


@dataclass(frozen=True)
class VenueDetails:
    id: int
    code: str
    name: str
    category: str
    unit_id: int
    unit_code: str
    unit_name: str
    created_at: datetime
    retired_at: datetime | None


@dataclass(frozen=True)
class Kiosk:
    id: str
    name: str | None
    enrolled_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    online: bool
    minutes_ago: int | None  # since it was last heard; None: never
    version: str | None
    backlog: int | None
    oldest_unsent_s: float | None
    faults: list[Words]


def venue_details(conn: Connection, venue_id: int) -> VenueDetails:
    row = conn.execute(
        select(venues.c.id, venues.c.code, venues.c.name, venues.c.category, venues.c.unit_id,
               units.c.code.label("unit_code"), units.c.name.label("unit_name"), venues.c.created_at,
               venues.c.retired_at)
        .join(units, units.c.id == venues.c.unit_id)
        .where(venues.c.id == venue_id)
    ).one()  # fmt: skip
    return VenueDetails(
        row.id, row.code, row.name, row.category, row.unit_id, row.unit_code, row.unit_name,
        aware(row.created_at), aware(row.retired_at),  # type: ignore[arg-type]
    )  # fmt: skip


def venue_kiosks(conn: Connection, venue_id: int, now: datetime, limit: int = KIOSK_LIMIT) -> list[Kiosk]:
    """The venue's kiosks, those not revoked first, each by id."""
    now = now.astimezone(UTC)
    revoked_last = case((devices.c.revoked_at.is_(None), 0), else_=1)
    rows = conn.execute(
        select(devices.c.id, devices.c.name, devices.c.enrolled_at, devices.c.revoked_at, devices.c.last_seen_at,
               devices.c.last_heartbeat)
        .where(devices.c.venue_id == venue_id)
        .order_by(revoked_last, devices.c.id)
        .limit(limit)
    )  # fmt: skip
    return [_kiosk(row, now) for row in rows]


def _kiosk(row: Any, now: datetime) -> Kiosk:
    seen = aware(row.last_seen_at)
    beat = row.last_heartbeat if isinstance(row.last_heartbeat, dict) else {}
    version = beat.get("version")
    return Kiosk(
        id=row.id,
        name=row.name,
        enrolled_at=aware(row.enrolled_at),  # type: ignore[arg-type]
        revoked_at=aware(row.revoked_at),
        last_seen_at=seen,
        online=row.revoked_at is None and seen is not None and now - seen < ONLINE_WINDOW,
        minutes_ago=None if seen is None else max(0, int((now - seen).total_seconds() // 60)),
        version=version[:32] if isinstance(version, str) else None,
        backlog=_whole(beat.get("backlog")),
        oldest_unsent_s=_number(beat.get("oldest_unsent_age_s")),
        faults=faults(beat),
    )


def faults(beat: dict[str, Any]) -> list[Words]:
    """What is wrong at the kiosk, as its last heartbeat says (kiosk/ops/statusreport.py `heartbeat`), in words."""
    return _store_faults(beat) + _device_faults(beat) + _link_faults(beat)


def _part(beat: dict[str, Any], name: str) -> dict[str, Any]:
    value = beat.get(name)
    return value if isinstance(value, dict) else {}


def _store_faults(beat: dict[str, Any]) -> list[Words]:
    found: list[Words] = []
    store = _part(beat, "store")
    if isinstance(store.get("fault"), str) and store["fault"]:
        found.append(("Không ghi được lượt qua (bộ nhớ kiosk lỗi)", "Not recording passages (the kiosk's store)"))
    if (errors := _whole(store.get("errors"))) and errors > 0:
        found.append((f"{errors} lần ghi lỗi từ khi khởi động", f"{errors} failed commits since start"))
    if store.get("recovered"):
        found.append(("Cơ sở dữ liệu hỏng đã được thay lúc khởi động", "A damaged database was set aside at start"))
    if (quarantined := _whole(beat.get("quarantined"))) and quarantined > 0:
        found.append((f"{quarantined} lượt qua bị trung tâm từ chối", f"{quarantined} passages refused by the centre"))
    if (disk := _number(beat.get("disk_free_mb"))) is not None and disk < LOW_DISK_MB:
        found.append((f"Sắp hết dung lượng: còn {disk:.0f} MB", f"Disk nearly full: {disk:.0f} MB free"))
    return found


def _device_faults(beat: dict[str, Any]) -> list[Words]:
    found: list[Words] = []
    camera = _part(beat, "camera")  # the camera's failure count (kiosk/ops/statusreport.py heartbeat)
    if (failures := _whole(camera.get("failures", beat.get("camera_failures")))) and failures > 0:
        found.append((f"Camera lỗi {failures} lần", f"Camera failed {failures} times"))
    if beat.get("clock_synced") is False:
        found.append(("Đồng hồ chưa đồng bộ", "Clock not synchronised"))
    scanners = beat.get("scanners")
    for scanner in scanners[:8] if isinstance(scanners, list) else []:
        if isinstance(scanner, dict) and scanner.get("connected") is False:
            name = str(scanner.get("name") or "")[:40]
            found.append((f"Đầu đọc {name} chưa cắm", f"Scanner {name} unplugged"))
    return found


def _link_faults(beat: dict[str, Any]) -> list[Words]:
    osdp = _part(beat, "osdp")
    if osdp.get("online") is False:
        return [("Mất kết nối với tủ điều khiển (OSDP)", "Access panel link down (OSDP)")]
    if osdp.get("secure") is False:
        return [("Kết nối OSDP không mã hoá", "OSDP link not secure")]
    return []


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if abs(value) < 1e15 else None
