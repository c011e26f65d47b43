"""The access list: the venue's enrolled people, their groups, and when and where each group may pass.

The centre sends it (docs/access-list.md); the kiosk keeps the last good copy and decides from it offline. A
lookup is one dictionary access and a few comparisons: a venue of 100,000 people costs no more per decision than
one of ten. Subject keys are kept as 16 bytes, not 32 characters of text, which halves the list's memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.credentials.listfile import list_time, load_list
from kiosk.errors import KioskError

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")


class AccessListError(KioskError, ValueError):
    """The access list cannot be used; the message says which entry and why."""


@dataclass(frozen=True, slots=True)
class Group:
    """One group of the venue: its weekly windows (minutes of the local day, by ISO weekday), its validity (local
    dates, inclusive) and the gates (device ids) it may use, None for all of them."""

    name: str
    windows: Mapping[int, tuple[tuple[int, int], ...]]
    valid_from: date | None = None
    valid_until: date | None = None
    gates: frozenset[str] | None = None

    def failure(self, moment: datetime, gate: str) -> str | None:
        """None if this group admits at `moment` (local) through `gate`, else why not."""
        day = moment.date()
        if (self.valid_from is not None and day < self.valid_from) or (
            self.valid_until is not None and day > self.valid_until
        ):
            return "access-expired"
        if self.gates is not None and gate not in self.gates:
            return "wrong-gate"
        minute = moment.hour * 60 + moment.minute
        if any(start <= minute < end for start, end in self.windows.get(moment.isoweekday(), ())):
            return None
        return "outside-hours"


# When no group admits, the reason given is that of the group that came closest: one whose only fault is the
# hour says "outside-hours", before one at the wrong gate, before one no longer valid.
_CLOSEST = ("outside-hours", "wrong-gate", "access-expired")


@dataclass(frozen=True)
class AccessList:
    people: Mapping[bytes, tuple[int, ...]] = field(default_factory=dict)
    groups: Mapping[int, Group] = field(default_factory=dict)
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo(DEFAULT_ZONE))
    version: str = ""
    venue: str = ""
    issued_at: datetime | None = None
    badges: Mapping[bytes, int] = field(default_factory=dict)  # the card number a panel knows a person by

    def __len__(self) -> int:
        return len(self.people)

    def enrolled(self, subject_key: str) -> bool:
        return _raw(subject_key) in self.people

    def badge(self, subject_key: str) -> int | None:
        """The badge (card) number the venue's access panel knows this person by, if the centre has one."""
        return self.badges.get(_raw(subject_key))

    def check(self, subject_key: str, now: datetime, gate: str) -> str | None:
        """ "access-ok" if `subject_key` may pass through `gate` at `now`; why not if enrolled and refused; None if
        the person is not on the list."""
        group_ids = self.people.get(_raw(subject_key))
        if group_ids is None:
            return None
        moment = now.astimezone(self.zone)
        failures = set()
        for group_id in group_ids:
            failure = self.groups[group_id].failure(moment, gate)
            if failure is None:
                return "access-ok"
            failures.add(failure)
        return next((reason for reason in _CLOSEST if reason in failures), "access-expired")

    @classmethod
    def load(cls, path: Path) -> AccessList:
        """The list in `path`; an empty list if there is none yet."""
        if not path.exists():
            return cls()
        return load_list(path, "access list", AccessListError, cls.from_json)

    @classmethod
    def from_json(cls, data: Any) -> AccessList:
        if not isinstance(data, dict):
            raise AccessListError("expected an object with 'groups' and 'people'")
        groups_data, people_data = data.get("groups", []), data.get("people", {})
        if not isinstance(groups_data, list) or not isinstance(people_data, dict):
            raise AccessListError("'groups' must be a list and 'people' an object")
        groups = dict(_group(item, f"groups[{i}]") for i, item in enumerate(groups_data))
        people = _people(people_data, groups)
        return cls(
            people,
            groups,
            _zone(data.get("timezone", DEFAULT_ZONE)),
            str(data.get("version", ""))[:64],
            str(data.get("venue", ""))[:64],
            list_time(data.get("issued_at"), "issued_at", AccessListError),
            _badges(data.get("badges", {}), people),
        )


def _raw(subject_key: str) -> bytes:
    try:
        return bytes.fromhex(subject_key)
    except ValueError:
        return b""


def _zone(name: object) -> ZoneInfo:
    try:
        if not isinstance(name, str):
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AccessListError(f"timezone: {str(name)[:40]!r} is not a time zone name") from None


def _people(data: dict[Any, Any], groups: Mapping[int, Group]) -> dict[bytes, tuple[int, ...]]:
    people: dict[bytes, tuple[int, ...]] = {}
    shared: dict[tuple[int, ...], tuple[int, ...]] = {}  # one tuple per combination of groups, not per person
    for key, ids in data.items():
        raw = _raw(key) if isinstance(key, str) and len(key) == 32 else b""
        if len(raw) != 16:
            raise AccessListError(f"people: {str(key)[:40]!r} is not a subject key of 32 hex digits")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and i in groups for i in ids):
            raise AccessListError(f"people[{key}]: needs a list of the ids of groups in 'groups'")
        combination = tuple(ids)
        people[raw] = shared.setdefault(combination, combination)
    return people


def _badges(data: Any, people: Mapping[bytes, tuple[int, ...]]) -> dict[bytes, int]:
    """Badge numbers by person: decimal digits (up to 20, as panels print them), for people on the list only."""
    if not isinstance(data, dict):
        raise AccessListError("'badges' must be an object of subject key to badge number")
    badges: dict[bytes, int] = {}
    for key, number in data.items():
        raw = _raw(key) if isinstance(key, str) and len(key) == 32 else b""
        if raw not in people:
            raise AccessListError(f"badges: {str(key)[:40]!r} is not a subject key in 'people'")
        if not isinstance(number, str) or not number.isascii() or not number.isdigit() or len(number) > 20:
            raise AccessListError(f"badges[{key}]: must be a badge number of 1 to 20 digits, as text")
        badges[raw] = int(number)
    return badges


def _group(item: Any, where: str) -> tuple[int, Group]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int) or not isinstance(item.get("name"), str):
        raise AccessListError(f"{where}: needs an integer 'id' and a 'name'")
    gates = item.get("gates")
    if gates is not None and not (isinstance(gates, list) and all(isinstance(g, str) for g in gates)):
        raise AccessListError(f"{where}.gates: must be null or a list of device ids")
    windows = item.get("windows", [])
    if not isinstance(windows, list):
        raise AccessListError(f"{where}.windows: must be a list")
    by_day: dict[int, list[tuple[int, int]]] = {}
    for j, window in enumerate(windows):
        days, span = _window(window, f"{where}.windows[{j}]")
        for day in days:
            by_day.setdefault(day, []).append(span)
    return item["id"], Group(
        item["name"][:64],
        {day: tuple(sorted(spans)) for day, spans in by_day.items()},
        _date(item.get("valid_from"), f"{where}.valid_from"),
        _date(item.get("valid_until"), f"{where}.valid_until"),
        None if gates is None else frozenset(gates),
    )


def _window(window: Any, where: str) -> tuple[list[int], tuple[int, int]]:
    if not isinstance(window, dict):
        raise AccessListError(f"{where}: must be an object with days, start and end")
    days = window.get("days")
    if not isinstance(days, list) or not days or not all(isinstance(d, int) and 1 <= d <= 7 for d in days):
        raise AccessListError(f"{where}.days: must be ISO weekdays, 1 (Monday) to 7 (Sunday)")
    start, end = _minute(window.get("start"), f"{where}.start"), _minute(window.get("end"), f"{where}.end")
    if start >= end:
        raise AccessListError(f"{where}: ends before it starts")
    return days, (start, end)


def _minute(value: object, where: str) -> int:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise AccessListError(f"{where}: must be HH:MM, 00:00 to 24:00")
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def _date(value: object, where: str) -> date | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise AccessListError(f"{where}: must be a date YYYY-MM-DD or null") from None
