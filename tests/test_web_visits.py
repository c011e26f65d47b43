"""Who is inside a venue, on the staff page /venues/{code}/inside (central/web/visits_pages.py), over HTTP: who may
see which venue, both languages, a time of today (?at=18:00), refusals in the page's language, the audit log of
every look, and the links to it. The roll call itself is tested in tests/test_visits.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import pytest
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue
from sqlalchemy import select
from test_visits import COURIER, EARLY, FITTER, NOW, STAFF, Factory, a_gate, enrol, factory_day
from web_helpers import Staff, add_account, wrong_language

from central.schema import audit_log


@pytest.fixture(autouse=True)
def hanoi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Ho_Chi_Minh")


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    """HN > BD (factory F1, its day of passages and visits) and SG (factory F2); an officer of HN, a venue admin of
    each factory, a tracer, an administrator."""
    with CentralServer(db_url, clock=FakeClock(NOW.astimezone(UTC))) as central:
        add_unit(central.engine, "HN", "Hà Nội")
        add_unit(central.engine, "BD", "Ba Đình", parent="HN")
        add_unit(central.engine, "SG", "Hồ Chí Minh")
        add_venue(central.engine, "F1", "BD", "factory")
        add_venue(central.engine, "F2", "SG", "factory")
        enrol(central.engine)
        factory_day(Factory(central.engine, a_gate(central.engine, "F1"), a_gate(central.engine, "F2")))
        add_account(central, "admin", "administrator")
        add_account(central, "officer", "unit_officer", unit="HN")
        add_account(central, "f1admin", "venue_admin", venue="F1")
        add_account(central, "f2admin", "venue_admin", venue="F2")
        add_account(central, "tracer", "tracer", unit="HN")
        yield central


def signed_in(server: CentralServer, username: str | None, lang: str = "vi") -> Staff:
    staff = Staff(server)
    staff.get(f"/login?lang={lang}")  # the language cookie
    if username:
        assert staff.login(username).status_code == 303
    return staff


def looks(server: CentralServer) -> list[Any]:
    with server.engine.connect() as conn:
        query = select(audit_log).where(audit_log.c.action == "visits-inside").order_by(audit_log.c.id)
        return list(conn.execute(query))


def cells(html: str, table: str) -> list[list[str]]:
    """The text of each cell of each body row of the table with id `table`."""
    body = html.split(f'id="{table}"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows
    ]


@pytest.mark.parametrize(
    ("username", "venue", "status"),
    [
        ("admin", "F1", 200),
        ("admin", "F2", 200),
        ("officer", "F1", 200),  # F1 is in BD, below HN
        ("officer", "F2", 403),
        ("officer", "NOPE", 403),  # refused as one outside the area: no probing for codes
        ("f1admin", "F1", 200),
        ("f1admin", "F2", 403),
        ("f2admin", "F1", 403),
        ("tracer", "F1", 403),
        ("admin", "NOPE", 404),
    ],
)
def test_each_role_sees_only_its_venues(server: CentralServer, username: str, venue: str, status: int):
    page = signed_in(server, username).get(f"/venues/{venue}/inside")
    assert page.status_code == status and page.headers["content-type"].startswith("text/html")
    assert len(looks(server)) == (1 if status == 200 else 0)  # only a look that showed someone is audited


def test_a_stranger_is_sent_to_sign_in_and_back(server: CentralServer):
    answer = signed_in(server, None).get("/venues/F1/inside?at=18:00")
    assert (
        answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fvenues%2FF1%2Finside%3Fat%3D18%3A00"
    )
    assert looks(server) == []


@pytest.mark.parametrize(
    ("lang", "title", "count", "group"),
    [
        ("vi", "Ai đang ở bên trong", "người đang ở bên trong", "Khách (1)"),
        ("en", "Who is inside", "people inside", "Visitors (1)"),
    ],
)
def test_the_six_oclock_roll_call_in_each_language(
    server: CentralServer, lang: str, title: str, count: str, group: str
):
    page = signed_in(server, "f1admin", lang).get("/venues/F1/inside?at=18:00")
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
    assert f"<h1>{title}: Venue F1" in page.text and count in page.text and group in page.text
    assert wrong_language(page.text, lang) == ([] if lang == "vi" else ["Giao hàng"])  # the guard's words, as chosen
    assert '<b id="count">5</b>' in page.text
    assert cells(page.text, "visitors") == [["Kho", "Giao hàng", "10:00", "****0042", ""]]
    assert cells(page.text, "enrolled") == [
        ["contractors, staff", "13:00", FITTER[:8], ""],
        ["staff", "07:00", STAFF[:8], ""],
    ]
    assert cells(page.text, "others") == [["00:10", EARLY[:8], ""], ["14:00", COURIER[:8], ""]]
    assert STAFF not in page.text and FITTER not in page.text  # shortened keys only
    assert 'value="18:00"' in page.text  # the time asked, in the form, to change it
    assert "<script" not in page.text  # printed with the browser's own command


def test_by_default_the_roll_call_is_now(server: CentralServer):
    page = signed_in(server, "admin", "en").get("/venues/F1/inside")
    assert page.status_code == 200 and "At 7 Dec 2026 20:00" in page.text and '<b id="count">5</b>' in page.text
    (look,) = looks(server)
    assert (look.actor, look.subject, look.address) == ("admin", "F1", "127.0.0.1")
    assert look.detail == {
        "at": "2026-12-07T13:00:00+00:00",
        "counts": {"inside": 5, "visitor": 1, "enrolled": 2, "other": 2},
    }


def test_half_past_ten_shows_both_visitors_and_the_night_shift(server: CentralServer):
    page = signed_in(server, "officer").get("/venues/F1/inside?at=10:30")
    assert page.status_code == 200 and '<b id="count">6</b>' in page.text
    assert [row[0] for row in cells(page.text, "visitors")] == ["Phòng Nhân sự", "Kho"]
    assert [row[3] for row in cells(page.text, "visitors")] == ["****2345", "****0042"]
    assert len(cells(page.text, "enrolled")) == 3


def test_an_empty_venue_says_no_one_in_each_list(server: CentralServer):
    page = signed_in(server, "admin").get("/venues/F2/inside")
    assert page.status_code == 200 and '<b id="count">0</b>' in page.text
    assert [cells(page.text, table)[0][0] for table in ("visitors", "enrolled", "others")] == ["Không có ai."] * 3


@pytest.mark.parametrize(("lang", "says"), [("vi", "Giờ không hợp lệ"), ("en", "This is not a time")])
def test_a_time_that_is_not_one_is_refused_in_the_pages_language(server: CentralServer, lang: str, says: str):
    staff = signed_in(server, "f1admin", lang)
    for wrong in ("soon", "25:00", "18h"):
        page = staff.get(f"/venues/F1/inside?at={wrong}")
        assert page.status_code == 422 and says in page.text and 'aria-invalid="true"' in page.text
        assert wrong_language(page.text, lang) == [] and 'id="visitors"' not in page.text
    assert staff.get("/venues/F1/inside?at=18%3A00%00").status_code == 422  # a NUL: refused, not a server error
    assert staff.get(f"/venues/F1/inside?at={'1' * 41}").status_code == 422
    assert looks(server) == []


def test_a_day_and_time_in_iso_form_is_taken_too(server: CentralServer):
    page = signed_in(server, "admin", "en").get("/venues/F1/inside?at=2026-12-06T23:59")
    assert page.status_code == 200 and "At 6 Dec 2026 23:59" in page.text
    assert '<b id="count">1</b>' in page.text  # someone came in at 23:50 that day


def test_the_links_to_the_page(server: CentralServer):
    f1admin = signed_in(server, "f1admin")
    assert 'href="/venues/F1/inside"' in f1admin.get("/dashboard").text
    assert 'href="/venues/F1/inside"' in f1admin.get("/venues/F1/rules").text
    assert 'href="/venues/F1/rules"' in f1admin.get("/venues/F1/inside").text


def test_the_audit_log_page_names_the_look(server: CentralServer):
    admin = signed_in(server, "admin", "en")
    admin.get("/venues/F1/inside")
    assert "Who is inside, looked up" in admin.get("/audit").text


def test_the_page_prints_the_roll_call_without_the_navigation(server: CentralServer):
    css = signed_in(server, None).get("/static/style.css").text
    printed = css.split("@media print", 2)
    assert len(printed) == 3 and ".print-only" in printed[2] and ".no-print" in printed[1]
    page = signed_in(server, "admin").get("/venues/F1/inside")
    assert page.text.count('<th scope="col" class="print-only">Có mặt</th>') == 3
    assert 'class="roll-when no-print"' in page.text
