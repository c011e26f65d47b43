"""The centre's local time zone, for what people count in days: scans today, coverage per day.

Times are stored in UTC; a day is the local calendar day ($KIOSK_CENTRAL_TZ, Vietnam's by default), so
"today" on the dashboard starts at local midnight, not at 07:00.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from central.errors import CentralError

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def local_zone() -> ZoneInfo:
    name = os.environ.get("KIOSK_CENTRAL_TZ") or DEFAULT_TZ
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CentralError(f"KIOSK_CENTRAL_TZ={name!r}: not a time zone name (e.g. Asia/Ho_Chi_Minh)") from None


def local_day(moment: datetime, zone: ZoneInfo | None = None) -> date:
    return moment.astimezone(zone or local_zone()).date()


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    """The first instant of the local `day` (aware)."""
    return datetime.combine(day, time(0), zone or local_zone())


def day_range(day: date, zone: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    zone = zone or local_zone()
    return day_start(day, zone), day_start(day + timedelta(days=1), zone)
