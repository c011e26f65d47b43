"""How numbers and times are written for people, in Vietnamese ("vi") or English ("en"); any other language
code is written as Vietnamese, the default.

Vietnamese groups digits with a dot and writes the decimal comma (12.345; 33,3 %) and dates day first
(26/11/2026); English the other way round (12,345; 33.3%) and with the month's name (26 Nov 2026), which reads
the same in Britain and America. Files for machines (CSV, JSON) use none of this: plain digits, ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from central.localtime import local_zone

MISSING = "–"  # a value that cannot be computed (a percentage of nothing)
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def number(value: float, lang: str = "vi", decimals: int = 1) -> str:
    """A whole number as it is (12.345 / 12,345); any other with `decimals` places (1.234,5 / 1,234.5)."""
    text = f"{int(value):,}" if float(value).is_integer() else f"{value:,.{decimals}f}"
    return text if lang == "en" else _vietnamese(text)


def percent(value: float | None, lang: str = "vi") -> str:
    """A percentage with one decimal (66,7 % / 66.7%); MISSING for None."""
    if value is None:
        return MISSING
    text = f"{value:,.1f}"
    return f"{text}%" if lang == "en" else f"{_vietnamese(text)} %"


def _vietnamese(text: str) -> str:
    """12,345.6 -> 12.345,6"""
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def day_month(day: date, lang: str = "vi") -> str:
    """A day of the year, short: 26/11 or 26 Nov (a chart's axis)."""
    return f"{day.day} {MONTHS_EN[day.month - 1]}" if lang == "en" else day.strftime("%d/%m")


def date_time(moment: datetime, lang: str = "vi", *, seconds: bool = False) -> str:
    """An aware time as people read it where `moment`'s zone is: 26/11/2026 10:00, or 26 Nov 2026 10:00."""
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    if lang == "en":
        return f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year} {clock}"
    return f"{moment:%d/%m/%Y} {clock}"


def local_date_time(moment: datetime, lang: str = "vi", *, seconds: bool = False, zone: tzinfo | None = None) -> str:
    """`date_time` of an aware UTC time in the centre's zone (or `zone`)."""
    return date_time(moment.astimezone(zone or local_zone()), lang, seconds=seconds)


def local_end(moment: datetime, lang: str = "vi", *, zone: tzinfo | None = None) -> str:
    """When something ends, in the centre's zone: an end at local midnight is the end of the day before
    ("hết ngày 10/12/2026" / "end of 10 Dec 2026", as the status list's form asked for it), else `date_time`."""
    local = moment.astimezone(zone or local_zone())
    if (local.hour, local.minute, local.second, local.microsecond) != (0, 0, 0, 0):
        return date_time(local, lang)
    day = local.date() - timedelta(days=1)
    return f"end of {day.day} {MONTHS_EN[day.month - 1]} {day.year}" if lang == "en" else f"hết ngày {day:%d/%m/%Y}"


def duration(seconds: float, lang: str = "vi") -> str:
    """A span of time, rounded down to its largest unit: 45 giây / 45 seconds, 3 phút / 3 minutes, 2 giờ / 2 hours,
    4 ngày / 4 days (how far a standby's data is behind)."""
    whole = max(0, int(seconds))
    size, vi, en = next(unit for unit in _UNITS if whole >= unit[0] or unit[0] == 1)
    count = whole // size
    if lang == "en":
        return f"{number(count, lang)} {en}{'' if count == 1 else 's'}"
    return f"{number(count, lang)} {vi}"


_UNITS = ((86400, "ngày", "day"), (3600, "giờ", "hour"), (60, "phút", "minute"), (1, "giây", "second"))
