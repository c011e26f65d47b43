"""A group's weekly time windows, as people write them in groups.csv and as kiosks read them.

    Mon-Fri 06:30-18:30; Sat 07:00-12:00        T2-T6 08:00-17:00; T7,CN 08:00-12:00

Each window is DAYS HH:MM-HH:MM in the venue's local time; DAYS is a day, a range of days or a comma list of
them, in English (Mon..Sun) or Vietnamese (T2..T7, CN: "thứ hai" is Monday, "chủ nhật" Sunday). A window ends
after it starts on the same day, `24:00` being the end of the day, so a night shift is two windows. Windows of a
group that overlap on a day are refused: one of them is a mistake, and the kiosk could not say which was meant.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from central.errors import CentralError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # ISO weekdays 1..7
_DAYS = {name.lower(): n for n, name in enumerate(DAY_NAMES, 1)} | {f"t{n + 1}": n for n in range(1, 7)} | {"cn": 7}
_WINDOW = re.compile(r"(?P<days>.*?)\s+(?P<start>\S+?)\s*-\s*(?P<end>\S+)")
_TIME = re.compile(r"(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})")
END_OF_DAY = 24 * 60


class WindowError(CentralError, ValueError):
    """Windows that do not read: the message says which part and why."""


@dataclass(frozen=True)
class Window:
    """ISO weekdays, and minutes from local midnight: `start` < `end` <= 1440."""

    days: tuple[int, ...]
    start: int
    end: int

    def as_json(self) -> dict[str, object]:
        """As in the list kiosks pull: {"days": [1, 2], "start": "06:30", "end": "18:30"}."""
        return {"days": list(self.days), "start": _hhmm(self.start), "end": _hhmm(self.end)}

    def __str__(self) -> str:
        return f"{_days_text(self.days)} {_hhmm(self.start)}-{_hhmm(self.end)}"


def parse_windows(text: str) -> list[Window]:
    """The windows of `text` (`;`-separated), in the order given; WindowError if one does not read or two overlap."""
    windows = [_window(part.strip()) for part in text.split(";") if part.strip()]
    if not windows:
        raise WindowError("no window: write e.g. Mon-Fri 08:00-17:00, or T2-CN 00:00-24:00 for every hour")
    _check_no_overlap(windows)
    return windows


def windows_from_json(data: Iterable[Mapping[str, Any]]) -> list[Window]:
    """Windows as stored (their `as_json`), back."""
    return [Window(tuple(item["days"]), _minutes(item["start"]), _minutes(item["end"])) for item in data]


def format_windows(windows: Iterable[Window]) -> str:
    """The windows as groups.csv writes them (English day names): what `parse_windows` reads back the same."""
    return "; ".join(str(window) for window in windows)


def _window(text: str) -> Window:
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise WindowError(f"{text[:40]!r} is not DAYS HH:MM-HH:MM (e.g. Mon-Fri 06:30-18:30)")
    days = _days(match["days"])
    start, end = _time(match["start"], end=False), _time(match["end"], end=True)
    if end <= start:
        raise WindowError(f"{text[:40]!r} ends before it starts (a night shift is two windows: ...-24:00; 00:00-...)")
    return Window(days, start, end)


def _days(text: str) -> tuple[int, ...]:
    days: list[int] = []
    for part in text.split(","):
        first, _, last = (p.strip() for p in part.partition("-"))
        start, stop = _day(first), _day(last) if last else _day(first)
        if stop < start:
            raise WindowError(f"{part.strip()!r}: a range of days runs forward from Mon to Sun (write Fri-Sun,Mon)")
        for day in range(start, stop + 1):
            if day in days:
                raise WindowError(f"{text.strip()[:40]!r} names {DAY_NAMES[day - 1]} twice")
            days.append(day)
    return tuple(sorted(days))


def _day(name: str) -> int:
    day = _DAYS.get(name.lower())
    if day is None:
        raise WindowError(f"{name[:20]!r} is not a day: Mon..Sun, or T2..T7 and CN")
    return day


def _time(text: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text)
    if match is None or int(match["h"]) > 24 or int(match["m"]) > 59:
        raise WindowError(f"{text[:20]!r} is not a time HH:MM")
    minutes = int(match["h"]) * 60 + int(match["m"])
    if minutes > END_OF_DAY or (minutes == END_OF_DAY and not end):
        raise WindowError(f"{text}: 24:00 is the end of a day, and only a window's end")
    return minutes


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _check_no_overlap(windows: list[Window]) -> None:
    for day in range(1, 8):
        spans = sorted((w for w in windows if day in w.days), key=lambda w: (w.start, w.end))
        for before, after in itertools.pairwise(spans):
            if after.start < before.end:
                raise WindowError(f"{before} and {after} overlap on {DAY_NAMES[day - 1]}")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days_text(days: tuple[int, ...]) -> str:
    """1,2,3,5 as Mon-Wed,Fri."""
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        DAY_NAMES[r[0] - 1] if len(r) == 1 else f"{DAY_NAMES[r[0] - 1]}-{DAY_NAMES[r[-1] - 1]}" for r in runs
    )
