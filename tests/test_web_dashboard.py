"""The dashboard pages over HTTP on the province of tests/test_progress.py: each role sees its part of the tree
and nothing else, the page's figures are the hand-counted ones, and the CSV is the report's."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date

import pytest
from central_fixtures import CentralServer, FakeClock
from test_progress import D1, NOW, P_TOTALS, SVG, World, world  # noqa: F401 (the fixture)
from web_helpers import Staff, add_account

from central.progress import as_csv


@pytest.fixture
def server(world: World, db_url: str) -> Iterator[CentralServer]:  # noqa: F811
    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        add_account(central, "admin", "administrator")
        add_account(central, "d1officer", "unit_officer", unit="D1")
        add_account(central, "v4admin", "venue_admin", venue="V4")
        add_account(central, "tracer", "tracer", unit="P")
        yield central


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_0-9]+)">([^<]*)<', html))


def shown(expected: dict[str, object]) -> dict[str, str]:
    """The hand counts as the page writes them in Vietnamese (thousands with '.', coverage with ',' and one
    decimal)."""
    deployed, registered = int(expected["deployed"]), int(expected["registered"])  # type: ignore[call-overload]
    coverage = f"{100 * deployed / registered:.1f}".replace(".", ",") + " %"
    names = ("registered", "deployed", "online", "devices_offline", "scans_today", "scans_7d")
    return {name: str(expected[name]) for name in names} | {"coverage": coverage}


def test_a_unit_officer_sees_their_district_and_below_and_nothing_else(server: CentralServer):
    officer = Staff(server)
    officer.login("d1officer")
    page = officer.get("/dashboard")
    assert page.status_code == 200 and "Huyện Cư Jút" in page.text
    assert figures(page.text) == shown(D1)
    assert 'data-unit="C11"' in page.text and 'data-unit="C21"' not in page.text
    assert officer.get("/dashboard?unit=C11").status_code == 200
    for elsewhere in ("D2", "C21", "P", "NO-SUCH-UNIT"):
        assert officer.get(f"/dashboard?unit={elsewhere}").status_code == 403, elsewhere
        assert officer.get(f"/dashboard.csv?unit={elsewhere}").status_code == 403, elsewhere


def test_an_administrator_sees_the_country_and_drills_down(server: CentralServer):
    admin = Staff(server)
    admin.login("admin")
    country = admin.get("/dashboard")
    assert "Cả nước" in country.text and figures(country.text) == shown(P_TOTALS)
    province = admin.get("/dashboard?unit=P")
    assert figures(province.text) == shown(P_TOTALS)
    assert '<a href="/dashboard?unit=D1">Huyện Cư Jút</a>' in province.text


def test_a_unit_code_with_a_nul_character_is_refused_not_a_server_error(server: CentralServer):
    admin = Staff(server)
    admin.login("admin")
    assert admin.get("/dashboard?unit=P%00").status_code == 422
    assert admin.get("/dashboard.csv?unit=P%00").status_code == 422


def test_the_csv_download_is_the_report_upward(server: CentralServer, world: World):  # noqa: F811
    officer = Staff(server)
    officer.login("d1officer")
    answer = officer.get("/dashboard.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="tien-do-D1-2026-11-26.csv"' in answer.headers["content-disposition"]
    assert answer.content.decode("utf-8") == as_csv(world.report("D1"))


def test_a_venue_admin_sees_their_venue_only(server: CentralServer):
    venue = Staff(server)
    venue.login("v4admin")
    page = venue.get("/dashboard?unit=P")  # asks for the province: gets their venue
    assert page.status_code == 200 and "Nhà máy Quảng Phú" in page.text
    assert "Trường tiểu học Quảng Phú" not in page.text and "data-figure" not in page.text
    assert venue.get("/dashboard.csv").status_code == 403


def test_a_tracer_has_no_dashboard(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    assert tracer.get("/dashboard").status_code == 403


def test_the_english_dashboard_writes_numbers_and_times_the_english_way(server: CentralServer):
    """Issue 12, item 7: the English page showed "66,7 %" and Vietnamese digit groups."""
    admin = Staff(server)
    admin.login("admin")
    english = admin.get("/dashboard?unit=P&lang=en").text
    assert figures(english)["coverage"] == "66.7%"
    assert "100%" in english and "26 Nov" in english  # the charts' scale and days
    assert "Figures at 26 Nov 2026 01:00" in english  # NOW, 18:00 UTC, is 01:00 the next day in Hanoi
    vietnamese = admin.get("/dashboard?unit=P&lang=vi").text
    assert figures(vietnamese)["coverage"] == "66,7 %" and "Số liệu lúc 26/11/2026 01:00" in vietnamese
    assert "26/11" in vietnamese and "26 Nov" not in vietnamese


def test_venue_categories_are_named_in_the_pages_language(server: CentralServer):
    """The English dashboard showed the categories' codes (factory, school) where the Vietnamese one names them."""
    admin = Staff(server)
    admin.login("admin")
    english = admin.get("/dashboard?unit=P&lang=en").text
    table = english[english.index('<table id="categories">') :]
    table = table[: table.index("</table>")]
    assert "Hospital, health facility" in table and ">hospital<" not in table
    vietnamese = admin.get("/dashboard?unit=P&lang=vi").text
    assert "Bệnh viện, cơ sở y tế" in vietnamese


def test_numbers_are_written_in_each_language():
    from central.formats import number, percent

    assert [number(12345, "vi"), number(12345, "en"), number(1234.5, "vi"), number(1234.5, "en")] == [
        "12.345", "12,345", "1.234,5", "1,234.5"
    ]  # fmt: skip
    assert [percent(66.666, "vi"), percent(66.666, "en"), percent(None, "en")] == ["66,7 %", "66.7%", "–"]


def test_how_far_behind_is_written_in_each_language():
    from central.formats import duration

    assert [duration(s, "vi") for s in (0, 45, 61, 3 * 3600 + 5, 2 * 86400)] == [
        "0 giây", "45 giây", "1 phút", "3 giờ", "2 ngày"
    ]  # fmt: skip
    assert [duration(s, "en") for s in (1, 45, 60, 180, 86400)] == [
        "1 second",
        "45 seconds",
        "1 minute",
        "3 minutes",
        "1 day",
    ]


def test_a_province_centre_reading_its_own_database_says_its_figures_are_live(server: CentralServer):
    admin = Staff(server)
    admin.login("admin")
    assert 'id="data-age">Số liệu trực tiếp từ máy chủ chính</p>' in admin.get("/dashboard").text
    assert 'id="data-age">Live data from the primary server</p>' in admin.get("/dashboard?lang=en").text
    assert 'id="province-copies"' not in admin.get("/dashboard").text


def test_a_chart_speaks_its_pages_language():
    from central.charts import scans_per_day

    svg = scans_per_day([date(2026, 11, 26)], [1200], place="Hà Nội", lang="en")
    assert "26 Nov: 1,200" in svg and "1.200" not in svg


def test_a_line_with_one_point_is_still_seen():
    """Issue 12, item 7: a venue registered today has one day of coverage: a path of one point draws nothing."""
    from central.charts import line_chart

    root = ET.fromstring(line_chart(["a", "b", "c"], [("x", [None, None, 50.0])], title="t"))
    path = root.find(f".//{SVG}path")
    assert path is not None and "L" not in (path.get("d") or "")  # nothing to join
    (dot,) = root.findall(f".//{SVG}circle")
    assert float(dot.get("r") or 0) >= 4  # a mark as wide as the other line's stroke and legend
