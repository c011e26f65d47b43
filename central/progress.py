"""Deployment progress by administrative unit: the figures behind the dashboard and the CSV reported upward.

What the figures mean (what a provincial officer reads on the page and in the report):

- registered: venues in the unit's subtree (every venue in `venues` not retired), also counted by category.
- deployed: a registered venue with at least one enrolled device that is not revoked. An enrolled kiosk is what
  the 2021 directives asked each venue to put in place.
- coverage % = deployed / registered (none when nothing is registered): how far deployment has got.
- online: a venue with a non-revoked device heard from (`devices.last_seen_at`) in the last 15 minutes.
- offline device: a non-revoked device not heard from for 15 minutes; offline since its last contact, or since
  its enrolment if it never spoke. Revoked devices count nowhere.
- scans today / 7 days: `venue_days.scans` (the rollup kept by ingest, never the events) over the local day of
  `now`, and over the 7 local days ending with it (central/localtime.py).
- active on day d: the venue's `venue_days` row for d says heard or has scans; "active today" counts those.
- Over time (one point per local day, the last `days` days ending today), at the end of each day (at `now` for
  today): registered = venues created by then and not retired by then; deployed = venues with a device enrolled
  by then and not revoked by then; active = venues active that day. Coverage per day = deployed / registered (its
  last point is the coverage % above); "in use" per day = active / registered, which shows whether deployed kiosks
  are used.

A unit's figures cover its whole subtree. The report has one row per direct child unit; venues attached to the
unit itself (a commune's venues; any level may have some) are listed, and are summed in `direct`, so that the
children and `direct` add up to the totals. Aggregation is done in SQL grouped by unit and category; the fold
up the tree is done in Python over the tree loaded once (`UnitTree`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, case, func, or_, select, true

from central import charts
from central.categories import CATEGORIES
from central.localtime import day_start, local_day, local_zone
from central.schema import devices, venue_days, venues
from central.timeutil import aware
from central.unittree import Unit, UnitTree, breadcrumb, in_subtree, visible_units

__all__ = [
    "ChildRow", "DailySeries", "Figures", "OfflineDevice", "UnitReport", "VenueRow", "as_csv", "breadcrumb",
    "coverage_chart", "in_subtree", "scans_chart", "unit_report", "visible_units",
]  # fmt: skip

ONLINE_WINDOW = timedelta(minutes=15)
WEEK_DAYS = 7


@dataclass(slots=True)
class Figures:
    """The counts of one unit's subtree (or of one group of venues)."""

    registered: int = 0
    deployed: int = 0
    online: int = 0
    active_today: int = 0
    devices: int = 0  # enrolled and not revoked
    devices_offline: int = 0
    scans_today: int = 0
    scans_7d: int = 0
    by_category: dict[str, int] = field(default_factory=dict)

    @property
    def coverage_pct(self) -> float | None:
        return percent(self.deployed, self.registered)

    @classmethod
    def of(cls, counts: list[int], by_category: dict[str, int]) -> Figures:
        """From the counts in the order of the fields."""
        figures = cls(by_category=by_category)
        for name, count in zip(COUNTS, counts, strict=True):
            setattr(figures, name, count)
        return figures

    def add(self, other: Figures) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for category, count in other.by_category.items():
            self.by_category[category] = self.by_category.get(category, 0) + count


COUNTS = [f.name for f in fields(Figures) if f.name != "by_category"]


@dataclass(frozen=True)
class ChildRow:
    unit: Unit
    figures: Figures
    has_children: bool  # whether the page can drill further down


@dataclass(frozen=True)
class VenueRow:
    id: int
    code: str
    name: str
    category: str
    devices: int
    devices_offline: int
    last_seen_at: datetime | None  # the latest contact of any of its non-revoked devices
    online: bool
    active_today: bool
    scans_today: int
    scans_7d: int

    @property
    def deployed(self) -> bool:
        return self.devices > 0


@dataclass(frozen=True)
class OfflineDevice:
    device_id: str
    device_name: str | None
    venue_code: str
    venue_name: str
    unit: Unit
    enrolled_at: datetime
    last_seen_at: datetime | None  # None: never heard from since its enrolment

    @property
    def since(self) -> datetime:
        return self.last_seen_at or self.enrolled_at


@dataclass(frozen=True)
class DailySeries:
    """One value per local day, oldest first (see the module docstring)."""

    days: list[date]
    scans: list[int]
    active: list[int]
    registered: list[int]
    deployed: list[int]

    @property
    def coverage_pct(self) -> list[float | None]:
        return [percent(d, r) for d, r in zip(self.deployed, self.registered, strict=True)]

    @property
    def active_pct(self) -> list[float | None]:
        return [percent(a, r) for a, r in zip(self.active, self.registered, strict=True)]


@dataclass(frozen=True)
class UnitReport:
    unit: Unit | None  # None: the whole country (every top-level unit is a child)
    path: list[Unit]  # from the top down to `unit`
    now: datetime
    today: date  # the local day of `now`
    totals: Figures
    children: list[ChildRow]
    direct: Figures | None  # the venues attached to `unit` itself; None when there are none
    venues: list[VenueRow]  # those venues, by code, at most `venue_limit` of them
    offline: list[OfflineDevice]  # offline longest first, at most `offline_limit` (totals.devices_offline: all)
    series: DailySeries


def percent(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def unit_report(
    conn: Connection,
    unit_id: int | None,
    now: datetime,
    *,
    days: int = 30,
    offline_limit: int = 50,
    venue_limit: int = 500,
    tree: UnitTree | None = None,
) -> UnitReport:
    """The figures of `unit_id` (None: the whole country) at `now`; NotFound for an unknown unit."""
    tree = tree or UnitTree.load(conn)
    unit = None if unit_id is None else tree.get(unit_id)
    now = now.astimezone(UTC)  # SQLite stores times as naive UTC text: compare with UTC only
    zone = local_zone()
    today = local_day(now, zone)
    subtree = tree.subtree_ids(unit_id)
    scope = None if len(subtree) == len(tree.units) else subtree  # None: no filter (a province's own centre)
    branch_of = tree.branches(unit_id)
    totals, direct = Figures(), Figures()
    by_child = {child.id: Figures() for child in tree.children(unit_id)}
    for unit_of, figures in _unit_figures(conn, scope, now, today).items():
        target = by_child[branch_of[unit_of]] if unit_of in branch_of else direct if unit_of == unit_id else None
        if target is not None:  # None: a unit in a parent loop, which no one sees
            target.add(figures)
            totals.add(figures)
    window = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return UnitReport(
        unit=unit,
        path=tree.path(unit_id) if unit_id is not None else [],
        now=now,
        today=today,
        totals=totals,
        children=[ChildRow(c, by_child[c.id], bool(tree.children(c.id))) for c in tree.children(unit_id)],
        direct=direct if direct.registered else None,
        venues=_venues(conn, unit_id, now, today, venue_limit) if direct.registered else [],
        offline=_offline(conn, scope, now, tree, offline_limit),
        series=_series(conn, scope, window, now),
    )


def _in_use() -> ColumnElement[bool]:
    """A venue not retired (central/venues/changes.py): a retired one is neither registered nor to deploy."""
    return venues.c.retired_at.is_(None)


def _in_scope(column: Any, scope: list[int] | None) -> ColumnElement[bool]:
    return true() if scope is None else column.in_(scope)


def _per_venue(scope_filter: ColumnElement[bool], now: datetime, today: date) -> Select[Any]:
    """One row per venue with its device and 7-day rollup figures (the device and day rows summed first)."""
    cut = now - ONLINE_WINDOW
    heard = devices.c.last_seen_at
    live = (
        select(
            devices.c.venue_id,
            func.count().label("live"),
            func.max(heard).label("last_seen"),
            func.sum(case((or_(heard.is_(None), heard < cut), 1), else_=0)).label("offline"),
        )
        .join(venues, venues.c.id == devices.c.venue_id)
        .where(scope_filter, devices.c.revoked_at.is_(None))
        .group_by(devices.c.venue_id)
        .subquery()
    )
    is_today = venue_days.c.day == today
    active = and_(is_today, or_(venue_days.c.heard, venue_days.c.scans > 0))
    week = (
        select(
            venue_days.c.venue_id,
            func.sum(case((is_today, venue_days.c.scans), else_=0)).label("today"),
            func.sum(venue_days.c.scans).label("week"),
            func.max(case((active, 1), else_=0)).label("active"),
        )
        .join(venues, venues.c.id == venue_days.c.venue_id)
        .where(scope_filter, venue_days.c.day.between(today - timedelta(days=WEEK_DAYS - 1), today))
        .group_by(venue_days.c.venue_id)
        .subquery()
    )
    return (
        select(
            venues.c.id, venues.c.code, venues.c.name, venues.c.unit_id, venues.c.category,
            func.coalesce(live.c.live, 0).label("devices"),
            func.coalesce(live.c.offline, 0).label("offline"),
            live.c.last_seen,
            case((live.c.last_seen >= cut, 1), else_=0).label("online"),
            func.coalesce(week.c.active, 0).label("active"),
            func.coalesce(week.c.today, 0).label("today"),
            func.coalesce(week.c.week, 0).label("week"),
        )
        .outerjoin(live, live.c.venue_id == venues.c.id)
        .outerjoin(week, week.c.venue_id == venues.c.id)
        .where(scope_filter)
    )  # fmt: skip


def _unit_figures(conn: Connection, scope: list[int] | None, now: datetime, today: date) -> dict[int, Figures]:
    """The figures of the venues attached to each unit in scope (not below it), by unit id."""
    venue = _per_venue(and_(_in_scope(venues.c.unit_id, scope), _in_use()), now, today).subquery()
    query = select(
        venue.c.unit_id, venue.c.category, func.count(),
        func.sum(case((venue.c.devices > 0, 1), else_=0)), func.sum(venue.c.online), func.sum(venue.c.active),
        func.sum(venue.c.devices), func.sum(venue.c.offline), func.sum(venue.c.today), func.sum(venue.c.week),
    ).group_by(venue.c.unit_id, venue.c.category)  # fmt: skip
    sums: dict[int, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    categories: dict[int, dict[str, int]] = defaultdict(dict)
    for unit_id, category, *counts in conn.execute(query):  # lists, not Figures: thousands of rows
        unit_sums = sums[unit_id]
        for i, count in enumerate(counts):
            unit_sums[i] += int(count or 0)  # int(): PostgreSQL sums bigints as numeric
        categories[unit_id][category] = int(counts[0])
    return {unit_id: Figures.of(unit_sums, categories[unit_id]) for unit_id, unit_sums in sums.items()}


def _venues(conn: Connection, unit_id: int | None, now: datetime, today: date, limit: int) -> list[VenueRow]:
    query = _per_venue(and_(venues.c.unit_id == unit_id, _in_use()), now, today).order_by(venues.c.code).limit(limit)
    return [
        VenueRow(row.id, row.code, row.name, row.category, int(row.devices), int(row.offline), aware(row.last_seen),
                 bool(row.online), bool(row.active), int(row.today), int(row.week))
        for row in conn.execute(query)
    ]  # fmt: skip


def _offline(conn: Connection, scope: list[int] | None, now: datetime, tree: UnitTree, n: int) -> list[OfflineDevice]:
    heard = devices.c.last_seen_at
    query = (
        select(
            devices.c.id, devices.c.name, devices.c.enrolled_at, heard, venues.c.code, venues.c.name, venues.c.unit_id
        )
        .join(venues, venues.c.id == devices.c.venue_id)
        .where(_in_scope(venues.c.unit_id, scope), devices.c.revoked_at.is_(None))
        .where(or_(heard.is_(None), heard < now - ONLINE_WINDOW))
        .order_by(func.coalesce(heard, devices.c.enrolled_at), devices.c.id)
        .limit(n)
    )
    return [
        OfflineDevice(device, name, code, venue, tree.get(unit), aware(enrolled), aware(seen))  # type: ignore[arg-type]
        for device, name, enrolled, seen, code, venue, unit in conn.execute(query)
    ]


def _series(conn: Connection, scope: list[int] | None, window: list[date], now: datetime) -> DailySeries:
    """Scans and active venues per day from the rollup; registered and deployed venues at each day's end."""
    in_scope = _in_scope(venues.c.unit_id, scope)
    active = case((or_(venue_days.c.heard, venue_days.c.scans > 0), 1), else_=0)
    per_day = (
        select(venue_days.c.day, func.sum(venue_days.c.scans), func.sum(active))
        .join(venues, venues.c.id == venue_days.c.venue_id)
        .where(in_scope, venue_days.c.day.between(window[0], window[-1]))
        .group_by(venue_days.c.day)
    )
    by_day = {day: (int(scans), int(count)) for day, scans, count in conn.execute(per_day)}
    zone = local_zone()
    ends = [min(day_start(day + timedelta(days=1), zone), now).astimezone(UTC) for day in window]
    created = venues.c.created_at
    retired = venues.c.retired_at
    open_at = [and_(created <= end, or_(retired.is_(None), retired > end)) for end in ends]  # retired: not counted
    registered = select(*(func.sum(case((open_then, 1), else_=0)) for open_then in open_at)).where(in_scope)
    enrolled, revoked = devices.c.enrolled_at, devices.c.revoked_at
    live_at = [and_(enrolled <= end, or_(revoked.is_(None), revoked > end)) for end in ends]
    per_venue = (
        select(*(func.max(case((live, 1), else_=0)).label(f"d{i}") for i, live in enumerate(live_at)))
        .join(venues, venues.c.id == devices.c.venue_id)
        .where(in_scope)
        .group_by(devices.c.venue_id)
        .subquery()
    )
    deployed = select(*(func.sum(column) for column in per_venue.c))
    return DailySeries(
        days=window,
        scans=[by_day.get(day, (0, 0))[0] for day in window],
        active=[by_day.get(day, (0, 0))[1] for day in window],
        registered=[int(n or 0) for n in conn.execute(registered).one()],
        deployed=[int(n or 0) for n in conn.execute(deployed).one()],
    )


CSV_HEADERS = {
    "vi": ["Mã đơn vị", "Đơn vị", "Địa điểm đăng ký", "Đã triển khai", "Tỷ lệ bao phủ (%)", "Trực tuyến (15 phút)",
           "Hoạt động hôm nay", "Thiết bị", "Thiết bị mất kết nối", "Lượt quét hôm nay", "Lượt quét 7 ngày"],
    "en": ["Unit code", "Unit", "Venues registered", "Deployed", "Coverage (%)", "Online (15 min)", "Active today",
           "Devices", "Devices offline", "Scans today", "Scans 7 days"],
}  # fmt: skip
CSV_WORDS = {"vi": ("Trực thuộc", "Tổng cộng"), "en": ("Attached directly to", "Total")}


def as_csv(report: UnitReport, lang: str = "vi") -> str:
    """The report upward: one row per child unit, one for the venues attached to the unit itself (if any), a
    total row; then a column per venue category. Starts with a BOM, so that Excel reads it as UTF-8."""
    attached, total = CSV_WORDS[lang]
    name = report.unit.name if report.unit else ""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADERS[lang] + [CATEGORIES[c] if lang == "vi" else c for c in CATEGORIES])
    for child in report.children:
        writer.writerow(_csv_row(child.unit.code, child.unit.name, child.figures))
    if report.direct is not None:
        writer.writerow(_csv_row("", f"{attached} {name}", report.direct))
    writer.writerow(_csv_row("", total, report.totals))
    return "\ufeff" + out.getvalue()


def _csv_row(code: str, name: str, figures: Figures) -> list[str | int]:
    coverage = figures.coverage_pct
    return [
        _cell(code), _cell(name), figures.registered, figures.deployed,
        "" if coverage is None else f"{coverage:.1f}",
        figures.online, figures.active_today, figures.devices, figures.devices_offline, figures.scans_today,
        figures.scans_7d, *(figures.by_category.get(c, 0) for c in CATEGORIES),
    ]  # fmt: skip


def _cell(text: str) -> str:
    """Text Excel would run as a formula (=, +, -, @ first) is kept as text by a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def scans_chart(report: UnitReport, lang: str = "vi") -> str:
    """Bars: the scans of each day of the series (from the rollup)."""
    return charts.scans_per_day(report.series.days, report.series.scans, place=_place(report, lang), lang=lang)


def coverage_chart(report: UnitReport, lang: str = "vi") -> str:
    """Lines: coverage (deployed / registered) and in use (active / registered) per day, in %."""
    series = report.series
    return charts.coverage_per_day(
        series.days, series.coverage_pct, series.active_pct, place=_place(report, lang), lang=lang
    )


def _place(report: UnitReport, lang: str) -> str:
    return report.unit.name if report.unit else {"vi": "Cả nước"}.get(lang, "Whole country")
