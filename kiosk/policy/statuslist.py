"""The status list: subject keys the health authority has flagged, each red (refuse) or yellow (guard checks).

Distributed by the central server as JSON, kept by the kiosk for when it is offline:
    {"issued_at": "<ISO 8601>", "entries": [{"subject_key": "<32 hex>", "status": "red", "until": "<ISO 8601>"}]}
An entry without "until" stays until the list drops it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.credentials.listfile import list_time, load_list
from kiosk.errors import KioskError

_KEY = re.compile(r"[0-9a-f]{32}")


class StatusListError(KioskError, ValueError):
    """The status-list file cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class StatusEntry:
    status: str  # "red" or "yellow"
    until: datetime | None = None


@dataclass
class StatusList:
    entries: dict[str, StatusEntry] = field(default_factory=dict)
    issued_at: datetime | None = None

    def status(self, subject_key: str | None, now: datetime) -> str | None:
        """ "red", "yellow" or None for `subject_key` at `now`."""
        entry = self.entries.get(subject_key) if subject_key else None
        if entry is None or (entry.until is not None and now > entry.until):
            return None
        return entry.status

    @classmethod
    def load(cls, path: Path) -> StatusList:
        """The list in `path`; an empty list if the file does not exist yet."""
        if not path.exists():
            return cls()
        return load_list(path, "status list", StatusListError, cls.from_json)

    @classmethod
    def from_json(cls, data: Any) -> StatusList:
        if not isinstance(data, dict) or not isinstance(data.get("entries", []), list):
            raise StatusListError("expected an object with a list 'entries'")
        if not isinstance(data.get("version", 0), int | None):
            raise StatusListError("'version' must be an integer")
        entries = {}
        for i, item in enumerate(data.get("entries", [])):
            key, status = (item.get("subject_key"), item.get("status")) if isinstance(item, dict) else (None, None)
            if not (isinstance(key, str) and _KEY.fullmatch(key)) or status not in ("red", "yellow"):
                raise StatusListError(f"entries[{i}]: needs a subject_key of 32 hex digits and status red or yellow")
            entries[key] = StatusEntry(status, _time(item.get("until"), f"entries[{i}].until"))
        return cls(entries, _time(data.get("issued_at"), "issued_at"))


def _time(value: object, where: str) -> datetime | None:
    return list_time(value, where, StatusListError)
