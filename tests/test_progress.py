"""The deployment-progress figures by administrative unit, their CSV and their charts.

One small province, every number worked out by hand in the comments: venues of several categories, devices
heard 5 minutes ago, hours ago, never, or revoked, and rollup rows inside and outside the windows.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from central import admin
from central.charts import bar_chart, line_chart, nice_ticks, vi_number
from central.db import connect
from central.errors import NotFound
from central.progress import (
    UnitReport,
    as_csv,
    breadcrumb,
    coverage_chart,
    in_subtree,
    scans_chart,
    unit_report,
    visible_units,
)
from central.schema import devices, units, venue_days

SVG = "{http://www.w3.org/2000/svg}"
# 18:00 UTC on the 25th is 01:00 on the 26th in Hanoi: "today" is the 26th, the UTC date is still the 25th.
NOW = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)
LONG_AGO = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
VENUE_V5 = 'Chợ <Đêm> & "Phố"'


def at(day: int, month: int = 11) -> datetime:
    """10:00 in Hanoi on that day of 2026 (03:00 UTC): far from any day boundary."""
    return datetime(2026, month, day, 3, 0, tzinfo=UTC)


@dataclass
class World:
    engine: Engine
    unit: dict[str, int]

    def report(self, code: str | None, **options: int) -> UnitReport:
        with self.engine.connect() as conn:
            return unit_report(conn, None if code is None else self.unit[code], NOW, **options)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    """P -> D1 (C11, C12), D2 (C21, C22 named like a formula, and venue V5 attached to D2 itself)."""
    engine = connect(db_url)
    with engine.begin() as conn:
        tree = [("P", "Tỉnh Đắk Nông", None), ("D1", "Huyện Cư Jút", "P"), ("D2", "Huyện Krông Nô", "P"),
                ("C11", "Xã Ea Pô", "D1"), ("C12", "Thị trấn Ea T'Ling", "D1"), ("C21", "Xã Quảng Phú", "D2"),
                ("C22", "=1+2", "D2")]  # fmt: skip
        unit = {code: admin.add_unit(conn, code, name, parent, LONG_AGO) for code, name, parent in tree}
        for code, name, where, category, created in [
            ("V1", "Bệnh viện huyện Cư Jút", "C11", "hospital", LONG_AGO),
            ("V2", "Trường THCS Ea Pô", "C11", "school", LONG_AGO),
            ("V3", "Chợ Ea T'Ling", "C12", "market", LONG_AGO),
            ("V4", "Nhà máy Quảng Phú", "C21", "factory", LONG_AGO),
            ("V5", VENUE_V5, "D2", "hospital", LONG_AGO),
            ("V6", "Trường tiểu học Quảng Phú", "C21", "school", at(20)),
        ]:
            admin.add_venue(conn, code, name, where, category, created)
        venue = {code: admin.venue_id(conn, code) for code in ("V1", "V2", "V3", "V4", "V5", "V6")}
        minutes = lambda n: NOW - timedelta(minutes=n)  # noqa: E731
        conn.execute(devices.insert(), [
            device("d1", venue["V1"], at(10), seen=minutes(5)),                      # online
            device("d2", venue["V1"], LONG_AGO, seen=minutes(1), revoked=at(15)),   # revoked: counts nowhere
            device("d3", venue["V2"], at(1), seen=minutes(180)),                     # offline for 3 hours
            device("d4", venue["V3"], at(1)),                                        # never heard: since 1 Nov
            device("d5", venue["V4"], at(22), seen=minutes(5)),                      # online
            device("d6", venue["V4"], at(22), seen=minutes(120)),                    # offline for 2 hours
            device("d7", venue["V5"], at(5), seen=at(21), revoked=at(21)),           # revoked: V5 not deployed
        ])  # fmt: skip
        conn.execute(venue_days.insert(), [
            day(venue["V1"], TODAY, 10, heard=True),
            day(venue["V1"], date(2026, 11, 25), 20, heard=True),
            day(venue["V1"], date(2026, 11, 20), 5, heard=True),    # the 7th day back: in the week
            day(venue["V1"], date(2026, 11, 19), 100, heard=True),  # the 8th: in the chart, not the week
            day(venue["V1"], date(2026, 10, 20), 999, heard=True),  # before the 30 days of the chart
            day(venue["V2"], TODAY, 0, heard=False),                # a row, but not active
            day(venue["V2"], date(2026, 11, 24), 7, heard=True),
            day(venue["V3"], TODAY, 4, heard=False),                # active by its scans
            day(venue["V4"], TODAY, 0, heard=True),                 # active by a heartbeat
            day(venue["V4"], date(2026, 11, 21), 3, heard=True),
            day(venue["V5"], date(2026, 11, 18), 50, heard=True),
        ])  # fmt: skip
    yield World(engine, unit)
    engine.dispose()


def device(
    device_id: str, venue: int, enrolled: datetime, *, seen: datetime | None = None, revoked: datetime | None = None
) -> dict[str, object]:
    return {"id": device_id, "venue_id": venue, "name": f"gate {device_id}", "public_key": bytes(32),
            "enrolled_at": enrolled, "last_seen_at": seen, "revoked_at": revoked}  # fmt: skip


def day(venue: int, when: date, scans: int, *, heard: bool) -> dict[str, object]:
    return {"venue_id": venue, "day": when, "scans": scans, "accepted": scans, "heard": heard}


def counts(figures: object) -> dict[str, object]:
    names = ("registered", "deployed", "online", "active_today", "devices", "devices_offline", "scans_today",
             "scans_7d", "by_category")  # fmt: skip
    return {name: getattr(figures, name) for name in names}


P_TOTALS = {
    "registered": 6,  # V1..V6
    "deployed": 4,  # V1 V2 V3 V4 (V5's only device is revoked, V6 has none)
    "online": 2,  # V1 (d1), V4 (d5); d2 was heard a minute ago but is revoked
    "active_today": 3,  # V1 heard, V3 scans, V4 heard; V2's row today has neither
    "devices": 5,  # d1 d3 d4 d5 d6
    "devices_offline": 3,  # d3 d4 d6
    "scans_today": 14,  # V1 10 + V3 4
    "scans_7d": 49,  # V1 10+20+5, V2 7, V3 4, V4 3
    "by_category": {"hospital": 2, "school": 2, "market": 1, "factory": 1},
}
D1 = {"registered": 3, "deployed": 3, "online": 1, "active_today": 2, "devices": 3, "devices_offline": 2,
      "scans_today": 14, "scans_7d": 46, "by_category": {"hospital": 1, "school": 1, "market": 1}}  # fmt: skip
D2 = {"registered": 3, "deployed": 1, "online": 1, "active_today": 1, "devices": 2, "devices_offline": 1,
      "scans_today": 0, "scans_7d": 3, "by_category": {"factory": 1, "school": 1, "hospital": 1}}  # fmt: skip


def test_a_province_adds_up_its_districts_whole_subtrees(world: World) -> None:
    report = world.report("P")
    assert report.unit is not None and report.unit.code == "P"
    assert report.today == TODAY
    assert counts(report.totals) == P_TOTALS
    assert report.totals.coverage_pct == pytest.approx(100 * 4 / 6)
    assert [(row.unit.code, counts(row.figures), row.has_children) for row in report.children] == [
        ("D1", D1, True),
        ("D2", D2, True),
    ]
    assert report.direct is None and report.venues == []


def test_a_district_lists_its_communes_and_the_venues_attached_to_it(world: World) -> None:
    report = world.report("D2")
    assert counts(report.totals) == D2
    c21 = {"registered": 2, "deployed": 1, "online": 1, "active_today": 1, "devices": 2, "devices_offline": 1,
           "scans_today": 0, "scans_7d": 3, "by_category": {"factory": 1, "school": 1}}  # fmt: skip
    empty = {"registered": 0, "deployed": 0, "online": 0, "active_today": 0, "devices": 0, "devices_offline": 0,
             "scans_today": 0, "scans_7d": 0, "by_category": {}}  # fmt: skip
    assert [(row.unit.code, counts(row.figures), row.has_children) for row in report.children] == [
        ("C21", c21, False),
        ("C22", empty, False),
    ]
    assert report.children[1].figures.coverage_pct is None
    assert report.direct is not None
    assert counts(report.direct) == {**empty, "registered": 1, "by_category": {"hospital": 1}}
    [v5] = report.venues
    assert (v5.code, v5.name, v5.category, v5.devices, v5.deployed, v5.online) == ("V5", VENUE_V5, "hospital", 0,
                                                                                   False, False)  # fmt: skip
    assert (v5.scans_today, v5.scans_7d, v5.active_today, v5.last_seen_at) == (0, 0, False, None)


def test_a_commune_lists_each_venue_with_its_own_figures(world: World) -> None:
    report = world.report("C11")
    assert report.children == [] and report.direct is not None
    assert counts(report.direct) == counts(report.totals)
    rows = {v.code: (v.devices, v.devices_offline, v.online, v.active_today, v.scans_today, v.scans_7d)
            for v in report.venues}  # fmt: skip
    assert rows == {"V1": (1, 0, True, True, 10, 35), "V2": (1, 1, False, False, 0, 7)}
    assert report.venues[0].last_seen_at == NOW - timedelta(minutes=5)  # d1's, not the revoked d2's


def test_the_whole_country_has_the_provinces_as_children(world: World) -> None:
    report = world.report(None)
    assert report.unit is None and report.path == []
    assert [row.unit.code for row in report.children] == ["P"]
    assert counts(report.children[0].figures) == counts(report.totals) == P_TOTALS


def test_offline_devices_come_longest_silent_first_and_are_limited(world: World) -> None:
    report = world.report("P")
    assert [(d.device_id, d.venue_code, d.unit.code, d.last_seen_at, d.since) for d in report.offline] == [
        ("d4", "V3", "C12", None, at(1)),
        ("d3", "V2", "C11", NOW - timedelta(hours=3), NOW - timedelta(hours=3)),
        ("d6", "V4", "C21", NOW - timedelta(hours=2), NOW - timedelta(hours=2)),
    ]
    limited = world.report("P", offline_limit=2)
    assert [d.device_id for d in limited.offline] == ["d4", "d3"]
    assert limited.totals.devices_offline == 3
    assert [d.device_id for d in world.report("D2").offline] == ["d6"]


def test_the_daily_series_come_from_the_rollup_by_local_day(world: World) -> None:
    series = world.report("P").series
    assert series.days == [TODAY - timedelta(days=n) for n in range(29, -1, -1)]
    assert series.days[0] == date(2026, 10, 28)

    def on(values: list[int]) -> dict[date, int]:
        return {d: v for d, v in zip(series.days, values, strict=True) if v}

    assert on(series.scans) == {date(2026, 11, 18): 50, date(2026, 11, 19): 100, date(2026, 11, 20): 5,
                                date(2026, 11, 21): 3, date(2026, 11, 24): 7, date(2026, 11, 25): 20,
                                TODAY: 14}  # fmt: skip
    assert on(series.active) == {date(2026, 11, d): 1 for d in (18, 19, 20, 21, 24, 25)} | {TODAY: 3}
    # V6 was registered on 20 Nov; the others long before.
    assert series.registered == [5] * 23 + [6] * 7
    # V1 all along (d2, then d1); V2 and V3 from 1 Nov; V5 from 5 Nov until d7 was revoked on 21 Nov; V4 from 22.
    assert series.deployed == [1] * 4 + [3] * 4 + [4] * 16 + [3] + [4] * 5
    assert series.deployed[-1] == world.report("P").totals.deployed
    assert series.coverage_pct[-1] == pytest.approx(100 * 4 / 6)
    assert series.active_pct[-1] == pytest.approx(100 * 3 / 6)


def test_a_window_of_seven_days_ends_today_in_the_centres_time_zone(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "UTC")  # now "today" is the 25th
    report = world.report("P", days=7)
    assert report.today == date(2026, 11, 25)
    assert report.totals.scans_today == 20  # V1 on the 25th
    assert report.totals.scans_7d == 20 + 7 + 3 + 5 + 100  # the 19th to the 25th
    assert report.series.days[0] == date(2026, 11, 19)


def test_an_unknown_unit_is_not_found(world: World) -> None:
    world.unit["X"] = 10_000
    with pytest.raises(NotFound):
        world.report("X")


def test_the_csv_has_a_row_per_child_and_a_total_that_excel_reads_as_utf8(world: World) -> None:
    text = as_csv(world.report("D2"))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    header, *body = rows
    assert header[:5] == ["Mã đơn vị", "Đơn vị", "Địa điểm đăng ký", "Đã triển khai", "Tỷ lệ bao phủ (%)"]
    assert len(header) == 11 + 15 and "Bệnh viện, cơ sở y tế" in header
    assert [row[:2] for row in body] == [
        ["C21", "Xã Quảng Phú"],
        ["C22", "'=1+2"],  # never a formula in Excel
        ["", "Trực thuộc Huyện Krông Nô"],
        ["", "Tổng cộng"],
    ]
    as_dicts = [dict(zip(header, row, strict=True)) for row in body]
    assert [r["Địa điểm đăng ký"] for r in as_dicts] == ["2", "0", "1", "3"]
    assert [r["Tỷ lệ bao phủ (%)"] for r in as_dicts] == ["50.0", "", "0.0", "33.3"]
    assert [r["Thiết bị mất kết nối"] for r in as_dicts] == ["1", "0", "0", "1"]
    assert [r["Lượt quét 7 ngày"] for r in as_dicts] == ["3", "0", "0", "3"]
    assert [r["Bệnh viện, cơ sở y tế"] for r in as_dicts] == ["0", "0", "1", "1"]
    for column in header[2:]:
        if column != "Tỷ lệ bao phủ (%)":
            assert sum(int(row[column]) for row in as_dicts[:-1]) == int(as_dicts[-1][column]), column


def test_the_csv_of_the_province_in_english(world: World) -> None:
    rows = list(csv.DictReader(io.StringIO(as_csv(world.report("P"), lang="en").removeprefix("\ufeff"))))
    assert [(r["Unit code"], r["Venues registered"], r["Scans today"], r["hospital"]) for r in rows] == [
        ("D1", "3", "14", "1"),
        ("D2", "3", "0", "1"),
        ("", "6", "14", "2"),
    ]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises if not well-formed
    assert root.tag == SVG + "svg"
    assert root.get("viewBox") and root.get("role") == "img"
    assert "style" not in svg  # the pages' CSP (style-src 'self') would block inline styles
    labelled = (root.get("aria-labelledby") or "").split()
    assert [root.find(f"{SVG}title").get("id"), root.find(f"{SVG}desc").get("id")] == labelled
    return root


def test_the_scans_chart_has_a_bar_per_day_and_a_title(world: World) -> None:
    report = world.report("P")
    root = parse(scans_chart(report))
    assert root.findtext(f"{SVG}title") == "Lượt quét mỗi ngày — Tỉnh Đắk Nông"
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 30
    assert bars[-1].findtext(f"{SVG}title") == "26/11: 14"
    heights = [float(bar.get("height", "")) for bar in bars]
    assert heights.index(max(heights)) == report.series.days.index(date(2026, 11, 19))  # the 100 scans
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Ngày" in texts and "Lượt quét" in texts  # axis labels
    assert "26/11: 14" in (root.findtext(f"{SVG}desc") or "")


def test_chart_text_is_escaped() -> None:
    svg = bar_chart([(VENUE_V5, 1200), ("<&>", 3)], title="Địa điểm <&>", y_label="a & b")
    root = parse(svg)
    assert "&lt;Đêm&gt; &amp; &quot;Phố&quot;" in svg and "<Đêm>" not in svg
    assert root.findtext(f"{SVG}title") == "Địa điểm <&>"
    assert [bar.findtext(f"{SVG}title") for bar in root.iter(f"{SVG}rect")] == [f"{VENUE_V5}: 1.200", "<&>: 3"]


def test_the_coverage_chart_has_two_lines_in_percent_with_gaps_where_nothing_is_registered(world: World) -> None:
    root = parse(coverage_chart(world.report("P")))
    lines = root.findall(f".//{SVG}path[@class='line']")
    assert len(lines) == 2
    assert len(root.findall(f".//{SVG}circle")) == 60
    assert "100%" in [t.text for t in root.iter(f"{SVG}text")]  # the scale is fixed at 100 %
    gap = parse(line_chart(["a", "b", "c", "d"], [("x", [1, None, 2, 3])], title="t"))
    assert gap.find(f".//{SVG}path").get("d", "").count("M") == 2


def test_an_empty_chart_says_so() -> None:
    root = parse(bar_chart([], title="Không có gì"))
    assert "Chưa có số liệu" in [t.text for t in root.iter(f"{SVG}text")]
    assert root.findall(f".//{SVG}rect") == []


def test_numbers_and_scales() -> None:
    assert [vi_number(12345), vi_number(33.3), vi_number(1234.5), vi_number(100.0)] == ["12.345", "33,3", "1.234,5",
                                                                                         "100"]  # fmt: skip
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(100) == [0, 25, 50, 75, 100]
    assert nice_ticks(1234) == [0, 500, 1000, 1500]


def test_an_officer_sees_their_unit_and_below_only(world: World) -> None:
    u = world.unit
    with world.engine.connect() as conn:
        assert in_subtree(conn, u["D1"], u["C12"]) and in_subtree(conn, u["D1"], u["D1"])
        assert not in_subtree(conn, u["D1"], u["C21"]) and not in_subtree(conn, u["D1"], u["P"])
        assert in_subtree(conn, None, u["C22"]) and not in_subtree(conn, None, 10_000)
        assert [x.code for x in visible_units(conn, u["D2"])] == ["D2", "C21", "C22"]
        assert [x.code for x in visible_units(conn, None)] == ["P", "D1", "C11", "C12", "D2", "C21", "C22"]
        assert [x.code for x in breadcrumb(conn, u["C21"])] == ["P", "D2", "C21"]
        assert breadcrumb(conn, None) == []


def test_units_in_a_parent_loop_are_seen_by_no_one(world: World) -> None:
    """Impossible through `admin.add_unit`, possible by hand in SQL: the rest of the tree still works."""
    with world.engine.begin() as conn:
        a = admin.add_unit(conn, "A", "Loop A", None, LONG_AGO)
        b = admin.add_unit(conn, "B", "Loop B", "A", LONG_AGO)
        conn.execute(update(units).where(units.c.id == a).values(parent_id=b))
        admin.add_venue(conn, "VL", "In the loop", "B", "other", LONG_AGO)
        assert not in_subtree(conn, None, a) and not in_subtree(conn, None, b)
        assert in_subtree(conn, a, b)  # what the loop itself says
        assert "A" not in [x.code for x in visible_units(conn, None)]
        assert [x.code for x in breadcrumb(conn, b)][-2:] == ["A", "B"]  # ends, although it loops
    assert counts(world.report(None).totals) == P_TOTALS
    assert counts(world.report("P").totals) == P_TOTALS  # P is no longer the whole tree: filtered by its units
