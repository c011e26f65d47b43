"""The venue admin pages, /venues and /venues/{code} (central/web/venues_pages.py), over HTTP on both databases:
who sees which venue, search with and without diacritics, filters and keyset pages, the edit audited with its
values before and after, retiring a venue, revoking a kiosk (whose next upload is then refused), CSRF, both
languages, and in Chromium on a 320 px phone and a desktop."""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from central_fixtures import CentralServer, DeviceClient, FakeClock, add_unit, enrolled_device, make_events
from sqlalchemy import select
from web_helpers import PASSWORD, Staff, csrf_of, wrong_language

from central.accounts import check_new_account
from central.admin import add_venue
from central.progress import unit_report
from central.schema import accounts, audit_log, devices, venues

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
HEARD = {"backlog": 7, "oldest_unsent_age_s": 420.0, "clock_synced": False, "version": "1.4.2",
         "store": {"fault": "disk I/O error", "errors": 3, "recovered": None},
         "osdp": {"online": False, "secure": True}, "scanners": [{"name": "front", "connected": False}]}  # fmt: skip
PAGED = 60  # venues P-000..P-059 in D1, for the pages of 50


def add_device(conn: Any, venue: str, *, seen: datetime | None, heartbeat: dict[str, Any] | None = None) -> str:
    device_id = str(uuid.uuid4())
    venue_id = conn.execute(select(venues.c.id).where(venues.c.code == venue)).scalar_one()
    row = {"id": device_id, "venue_id": venue_id, "public_key": b"\0" * 32, "enrolled_at": NOW - timedelta(days=9)}
    conn.execute(devices.insert().values(row | {"last_seen_at": seen, "last_heartbeat": heartbeat}))
    return device_id


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    """P > D1 > C11, P > D2. V1 (C11: one kiosk online with faults, one offline), V2 (D1: none), V3 (D2: one
    online), P-000..P-059 (D1, none)."""
    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        add_unit(central.engine, "P", "Tỉnh Đắk Nông")
        add_unit(central.engine, "D1", "Huyện Cư Jút", parent="P")
        add_unit(central.engine, "C11", "Xã Ea Pô", parent="D1")
        add_unit(central.engine, "D2", "Huyện Đắk Mil", parent="P")
        with central.engine.begin() as conn:
            add_venue(conn, "V1", "Bệnh viện Đa khoa Cư Jút", "C11", "hospital", NOW - timedelta(days=30))
            add_venue(conn, "V2", "Trường tiểu học Ea Pô", "D1", "school", NOW - timedelta(days=30))
            add_venue(conn, "V3", "Bệnh viện Đắk Mil", "D2", "hospital", NOW - timedelta(days=30))
            for n in range(PAGED):
                add_venue(conn, f"P-{n:03d}", f"Chợ số {n}", "D1", "market", NOW - timedelta(days=30))
            add_device(conn, "V1", seen=NOW - timedelta(minutes=2), heartbeat=HEARD)
            add_device(conn, "V1", seen=NOW - timedelta(hours=3), heartbeat={"backlog": 2})
            add_device(conn, "V3", seen=NOW - timedelta(minutes=1), heartbeat={"backlog": 0})
            for username, role, where in ACCOUNTS:
                row = check_new_account(conn, username, role, **where)
                conn.execute(accounts.insert().values(row | {"password_hash": password_hash(), "created_at": NOW}))
        yield central


ACCOUNTS: list[tuple[str, str, dict[str, str]]] = [
    ("admin", "administrator", {}),
    ("d1officer", "unit_officer", {"unit": "D1"}),
    ("d2officer", "unit_officer", {"unit": "D2"}),
    ("v1admin", "venue_admin", {"venue": "V1"}),
    ("tracer", "tracer", {"unit": "P"}),
]


@functools.cache
def password_hash() -> str:
    """One argon2id hash of the tests' password for every account (hashing is slow on purpose)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(PASSWORD)


def signed_in(server: CentralServer, username: str | None, lang: str = "vi") -> Staff:
    staff = Staff(server)
    staff.get(f"/login?lang={lang}")
    if username:
        assert staff.login(username).status_code == 303
    return staff


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-venue="([^"]+)">', html)


def audited(server: CentralServer) -> list[Any]:
    with server.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


def test_each_role_sees_its_venues_and_nothing_of_the_others(server: CentralServer):
    d1 = signed_in(server, "d1officer")
    codes = listed(d1.get("/venues?q=v").text)
    assert {"V1", "V2"} <= set(codes) and "V3" not in codes
    assert d1.get("/venues/V1").status_code == 200
    for path in ("/venues/V3", "/venues/NOPE", "/venues/V3/rules", "/venues/V3/inside"):
        assert d1.get(path).status_code == 403, path
    refused = d1.get("/venues?unit=D2")
    assert refused.status_code == 422 and listed(refused.text) == [] and "Không có địa bàn mã «D2»" in refused.text
    d2 = signed_in(server, "d2officer")
    assert listed(d2.get("/venues").text) == ["V3"] and d2.get("/venues/V1").status_code == 403
    token = csrf_of(d2.get("/venues/V3").text)
    for path, form in (("/venues/V1", {"name": "x", "category": "school", "unit": "D2"}),
                       ("/venues/V1/retire", {"reason": "r", "confirm": "yes"})):  # fmt: skip
        assert d2.post(path, form | {"csrf": token}).status_code == 403
    venue_admin = signed_in(server, "v1admin")
    assert listed(venue_admin.get("/venues?unit=D2&state=").text) == ["V1"]
    assert venue_admin.get("/venues/V2").status_code == 403
    admin = signed_in(server, "admin")
    assert admin.get("/venues/NOPE").status_code == 404 and admin.get("/venues?state=lost").status_code == 422
    assert signed_in(server, "tracer").get("/venues").status_code == 403
    assert signed_in(server, None).get("/venues").status_code == 303  # to sign in
    assert 'href="/venues"' in d1.get("/staff").text  # in the menu


def test_search_with_and_without_diacritics_filters_and_figures(server: CentralServer):
    admin = signed_in(server, "admin")
    for query in ("benh vien", "Bệnh viện", "BỆNH VIỆN", "bênh  viên"):
        assert listed(admin.get("/venues", params={"q": query}).text) == ["V1", "V3"], query
    assert listed(admin.get("/venues", params={"q": "dak mil"}).text) == ["V3"]
    assert listed(admin.get("/venues", params={"q": "p-05"}).text) == [f"P-05{n}" for n in range(10)]
    assert listed(admin.get("/venues", params={"q": "%"}).text) == []  # a wildcard is a character searched for
    assert listed(admin.get("/venues", params={"q": "benh", "unit": "D1"}).text) == ["V1"]
    with server.engine.begin() as conn:  # renamed by another path (venues.csv): found by its new name
        conn.execute(venues.update().where(venues.c.code == "V2").values(name="Trạm Y tế Ea Pô"))
    assert listed(admin.get("/venues", params={"q": "tram y te"}).text) == ["V2"]
    assert listed(admin.get("/venues", params={"q": "truong tieu hoc"}).text) == []
    assert listed(admin.get("/venues?state=offline").text) == ["V1"]
    assert listed(admin.get("/venues?state=online").text) == ["V3"]
    assert listed(admin.get("/venues?state=none&q=v").text) == ["V2"]
    row = admin.get("/venues?q=V1").text.split('<tr data-venue="V1">')[1].split("</tr>")[0]
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    assert cells == ["2", "1 / 2", "7"] and "Xã Ea Pô" in row and "Bệnh viện, cơ sở y tế" in row


def test_the_list_is_paged_in_code_order(server: CentralServer):
    admin = signed_in(server, "admin")
    first = admin.get("/venues?unit=D1")
    page = listed(first.text)
    assert len(page) == 50 and page == sorted(page)
    following = re.search(r'<a href="([^"]+)" id="next-page"', first.text)
    assert following and "after=" in following.group(1)
    second = admin.get(following.group(1).replace("&amp;", "&"))
    rest = listed(second.text)
    assert 'id="next-page"' not in second.text and 'id="first-page"' in second.text
    assert page + rest == sorted({f"P-{n:03d}" for n in range(PAGED)} | {"V1", "V2"})


def test_an_edit_is_audited_with_before_and_after_and_found_by_its_new_name(server: CentralServer):
    officer = signed_in(server, "d1officer")
    form = {"name": " Trạm   Y tế Ea Pô ", "category": "hospital", "unit": "D1", "reason": "đổi tên"}
    done = officer.form_post("/venues/V2", "/venues/V2", form)
    assert done.status_code == 303 and done.headers["location"] == "/venues/V2?done=edited"
    (row,) = audited(server)
    assert (row.actor, row.action, row.subject, row.reason) == ("d1officer", "venue-edit", "V2", "đổi tên")
    assert row.detail == {"before": {"name": "Trường tiểu học Ea Pô", "category": "school"},
                          "after": {"name": "Trạm Y tế Ea Pô", "category": "hospital"}}  # fmt: skip
    page = officer.get("/venues/V2?done=edited").text
    assert "Đã lưu thông tin địa điểm." in page and "Sửa thông tin địa điểm" in page
    assert listed(officer.get("/venues", params={"q": "tram y te"}).text) == ["V2"]
    for bad, says in (({"unit": "D2"}, "Không có địa bàn mã «D2»"), ({"name": " "}, "Tên địa điểm"),
                      ({"category": "castle"}, "Chọn một loại")):  # fmt: skip
        refused = officer.form_post("/venues/V2", "/venues/V2", form | bad)
        assert refused.status_code == 422 and says in refused.text, bad
    assert officer.form_post("/venues/V2", "/venues/V2", form).headers["location"].endswith("done=unchanged")
    assert len(audited(server)) == 1
    venue_admin = signed_in(server, "v1admin")
    assert venue_admin.form_post("/venues/V1", "/venues/V1", form | {"unit": "C11"}).status_code == 403
    assert 'id="edit"' not in venue_admin.get("/venues/V1").text


def test_a_retired_venue_keeps_its_history_its_kiosks_are_revoked_and_the_dashboard_drops_it(server: CentralServer):
    device = enrolled_device(server, "V2")
    officer = signed_in(server, "d1officer")
    before = _registered(server, "D1")
    refused = officer.form_post("/venues/V2", "/venues/V2/retire", {"reason": "đóng cửa"})  # not confirmed
    assert refused.status_code == 422 and "Đánh dấu ô xác nhận" in refused.text
    no_reason = officer.form_post("/venues/V2", "/venues/V2/retire", {"confirm": "yes"})
    assert no_reason.status_code == 422 and "Ghi lý do" in no_reason.text
    done = officer.form_post("/venues/V2", "/venues/V2/retire", {"reason": "đóng cửa", "confirm": "yes"})
    assert done.status_code == 303
    (row,) = audited(server)
    assert row.action == "venue-retire" and row.detail["before"] == {"retired_at": None, "kiosks": [device.device_id]}
    assert device.upload(make_events(1)).status_code == 403 and device.heartbeat({"backlog": 0}).status_code == 403
    assert _registered(server, "D1") == before - 1
    assert "V2" not in listed(officer.get("/venues").text) and listed(officer.get("/venues?state=retired").text) == [
        "V2"
    ]
    page = officer.get("/venues/V2").text
    assert 'id="retired"' in page and 'id="edit"' not in page and "Đã thu hồi" in page
    again = officer.post("/venues/V2", {"name": "x", "category": "school", "unit": "D1", "csrf": csrf_of(page)})
    assert again.status_code == 422 and "Địa điểm đã ngừng hoạt động" in again.text
    with server.engine.begin() as conn:  # its own venue admin still finds it, in the list and on its page
        row = check_new_account(conn, "v2admin", "venue_admin", venue="V2")
        conn.execute(accounts.insert().values(row | {"password_hash": password_hash(), "created_at": NOW}))
    venue_admin = signed_in(server, "v2admin")
    assert listed(venue_admin.get("/venues").text) == ["V2"] and venue_admin.get("/venues/V2").status_code == 200


def _registered(server: CentralServer, unit: str) -> int:
    from central.admin import unit_id

    with server.engine.connect() as conn:
        return unit_report(conn, unit_id(conn, unit), NOW).totals.registered


def test_a_venue_admin_revokes_a_kiosk_and_its_next_upload_is_refused(server: CentralServer):
    device: DeviceClient = enrolled_device(server, "V1", name="cổng chính")
    assert device.heartbeat(HEARD).status_code == 204
    assert device.upload(make_events(1)).status_code == 200
    venue_admin = signed_in(server, "v1admin")
    page = venue_admin.get("/venues/V1").text
    assert "Không ghi được lượt qua" in page and "Đồng hồ chưa đồng bộ" in page and "Mất kết nối với tủ" in page
    assert "1.4.2" in page and "0 phút trước" in page
    path = f"/venues/V1/kiosks/{device.device_id}/revoke"
    assert venue_admin.form_post("/venues/V1", path, {"reason": " "}).status_code == 422
    assert venue_admin.post(path, {"reason": "bị mất"}).status_code == 403  # no CSRF token
    assert device.upload(make_events(1)).status_code == 200  # still active
    done = venue_admin.form_post("/venues/V1", path, {"reason": "bị mất"})
    assert done.status_code == 303 and done.headers["location"] == "/venues/V1?done=revoked"
    assert device.upload(make_events(1)).status_code == 403 and device.challenge().status_code == 403
    (row,) = audited(server)
    assert (row.action, row.subject, row.actor, row.reason) == ("device-revoke", "V1", "v1admin", "bị mất")
    assert row.detail["before"] == {"device": device.device_id, "revoked_at": None}
    again = venue_admin.form_post("/venues/V1", path, {"reason": "bị mất"})
    assert again.status_code == 422 and "không có thiết bị" in again.text
    device.close()


def test_a_form_without_its_csrf_token_changes_nothing(server: CentralServer):
    officer = signed_in(server, "admin")
    with server.engine.connect() as conn:
        kiosk = conn.execute(select(devices.c.id).where(devices.c.revoked_at.is_(None))).scalars().first()
    for extra in ({}, {"csrf": ""}, {"csrf": "wrong"}):
        for path, form in (("/venues/V1", {"name": "x", "category": "school", "unit": "D1"}),
                           ("/venues/V1/retire", {"reason": "r", "confirm": "yes"}),
                           (f"/venues/V1/kiosks/{kiosk}/revoke", {"reason": "r"})):  # fmt: skip
            assert officer.post(path, form | extra).status_code == 403, (path, extra)
    assert audited(server) == []
    with server.engine.connect() as conn:
        assert conn.execute(select(devices.c.revoked_at).where(devices.c.id == kiosk)).scalar_one() is None


DATA = re.compile("Cư Jút|Ea Pô|Đắk|Chợ số|Bệnh viện|Trường tiểu học|Tỉnh")  # names of places, in any language


def test_the_pages_speak_one_language(server: CentralServer):
    for lang in ("vi", "en"):
        officer = signed_in(server, "d1officer", lang)
        form = {"name": f"Bệnh viện Cư Jút {lang}", "category": "hospital", "unit": "C11"}
        officer.form_post("/venues/V1", "/venues/V1", form)
        pages = {
            "list": officer.get("/venues"),
            "search": officer.get("/venues?q=benh&state=offline"),
            "nothing": officer.get("/venues?q=zzz"),
            "unit elsewhere": officer.get("/venues?unit=D2"),
            "venue": officer.get("/venues/V1?done=edited"),
            "edit refused": officer.form_post("/venues/V1", "/venues/V1", form | {"name": "", "category": "x"}),
            "retire refused": officer.form_post("/venues/V2", "/venues/V2/retire", {"reason": "r"}),
            "revoke refused": officer.form_post("/venues/V1", "/venues/V1/kiosks/nope/revoke", {"reason": "r"}),
        }
        for name, answer in pages.items():
            assert f'<html lang="{lang}">' in answer.text, name
            wrong = [text for text in wrong_language(answer.text, lang) if not DATA.search(text)]
            assert wrong == [], (lang, name, wrong)
        assert ("Mất kết nối với tủ" if lang == "vi" else "Access panel link down") in pages["venue"].text


@pytest.mark.parametrize("width", [320, 1280])
def test_the_pages_fit_the_screen_in_chromium(server: CentralServer, browser: Any, width: int):
    from test_browser import sign_in, visit

    if server.db_url.startswith("postgresql"):
        pytest.skip("what a page looks like does not depend on the database: SQLite's run checks it")
    with server.engine.connect() as conn:
        kiosk = conn.execute(
            select(devices.c.id).join(venues, venues.c.id == devices.c.venue_id).where(venues.c.code == "V1")
        ).scalars().first()  # fmt: skip

    def revoke(page: Any, url: str) -> None:
        page.goto(url + "/venues/V1?lang=vi")  # the search before it set the language cookie to English
        row = page.locator(f'tr[data-device="{kiosk}"]')
        row.get_by_label("Lý do").fill("Thiết bị bị hỏng, đã thay thế")
        row.get_by_role("button", name="Thu hồi").click()
        page.wait_for_selector("#done")

    steps = {
        "venues": lambda page, url: page.goto(url + "/venues"),
        "venues, search": lambda page, url: page.goto(url + "/venues?q=benh+vien&lang=en"),
        "venue": lambda page, url: page.goto(url + "/venues/V1"),
        "venue, revoked": revoke,
        "venue, English": lambda page, url: page.goto(url + "/venues/V1?lang=en"),
    }
    assert visit(browser, width, steps, server.url, sign_in_as="admin") == {}
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN")
    try:
        page = context.new_page()
        sign_in(page, server.url, "admin")
        page.goto(server.url + "/staff?lang=vi")
        page.get_by_role("link", name="Địa điểm", exact=True).click()
        page.get_by_label("Tìm theo mã hoặc tên").fill("benh vien")
        page.get_by_role("button", name="Tìm", exact=True).click()
        page.wait_for_url("**/venues?q=benh+vien*")
        assert page.locator("#venues tbody tr").count() == 2
    finally:
        context.close()


def test_a_heartbeat_of_any_shape_gives_faults_never_an_error():
    """A heartbeat is kept as the kiosk sent it: the page reads each field for what it is, and skips the rest."""
    from central.venues.detail import faults

    odd: list[dict[str, Any]] = [
        {"store": "x", "camera": 5, "scanners": "y", "osdp": [1], "quarantined": "many", "disk_free_mb": True},
        {"store": {"fault": 3, "errors": 1e300, "recovered": 0}, "scanners": [None, 7, {"connected": "no"}]},
        {"disk_free_mb": float("nan"), "clock_synced": "false", "camera": {"failures": -1}},
    ]
    assert [faults(beat) for beat in odd] == [[], [], []]
    assert faults({"camera": {"failures": 2}, "disk_free_mb": 90, "osdp": {"online": True, "secure": False}}) == [
        ("Sắp hết dung lượng: còn 90 MB", "Disk nearly full: 90 MB free"),
        ("Camera lỗi 2 lần", "Camera failed 2 times"),
        ("Kết nối OSDP không mã hoá", "OSDP link not secure"),
    ]
