"""The centre's pages in a real browser (headless Chromium, tests/browser.py), against a real server on
loopback: what a person, a unit officer and a tracer actually see and do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from central_fixtures import SECRET, CentralServer
from conftest import CCCD_AN
from test_progress import world  # noqa: F401 (the fixture)

from central.lists import trust_list
from central.passkeys import PassKey, load_pass_key
from kiosk.credentials import Identity, SubjectKeyer
from kiosk.decode.zxing import ZxingDecoder

CCCD_NUMBER = CCCD_AN.split("|")[0]


@pytest.fixture
def pass_key(tmp_path: Path) -> PassKey:
    return load_pass_key(tmp_path / "pass.key")


@pytest.fixture
def server(db_url: str, pass_key: PassKey) -> Iterator[CentralServer]:
    with CentralServer(db_url, pass_key=pass_key) as central:
        yield central


def test_a_person_declares_on_a_phone_and_the_screenshot_passes_the_gate(
    server: CentralServer, page: Any, tmp_path: Path
):
    page.goto(server.url + "/declare")
    assert page.locator("h1").inner_text() == "Tờ khai y tế điện tử"
    page.get_by_label("Căn cước công dân (CCCD)").check()
    page.get_by_label("Số giấy tờ").fill(CCCD_NUMBER)
    page.get_by_label("Số điện thoại di động").fill("091 234 5678")
    page.get_by_label("Không có triệu chứng nào").check()
    page.get_by_role("group", name="tiếp xúc gần").get_by_label("Không").check()
    page.get_by_role("group", name="phong toả").get_by_label("Không").check()
    page.get_by_label("Nơi bạn đã đi qua").fill("Hà Nội → Đà Lạt")
    page.get_by_role("button", name="Gửi tờ khai").click()
    page.wait_for_selector("svg.pass-qr")
    assert "Tình trạng: Xanh" in page.locator(".status-green").inner_text()

    shot = page.locator("svg.pass-qr").screenshot()  # what the phone shows, as pixels (bytes: a path would start
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)  # a file-writer thread)
    (code,) = ZxingDecoder().read(image).codes
    trust_file = tmp_path / "trust-list.json"
    with server.engine.connect() as conn:
        trust_file.write_text(json.dumps(trust_list(conn, server.clock())))
    at = (server.clock() + timedelta(minutes=5)).isoformat()
    verify = [sys.executable, "-m", "kiosk", "verify", "--text", code.text, "--trust-list", str(trust_file)]
    done = subprocess.run([*verify, "--at", at, "--json"], capture_output=True, text=True, timeout=60, check=True)
    report = json.loads(done.stdout)
    assert report["decision"] == {"mode": "pass", "outcome": "ACCEPT", "reason": "pass-ok"}, report
    assert report["subject"]["subject_key"] == SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_NUMBER))


def test_the_form_shows_its_errors_where_a_screen_reader_finds_them(server: CentralServer, page: Any):
    page.goto(server.url + "/declare?lang=en")
    page.get_by_label("Document number").fill("12")
    page.get_by_role("button", name="Send and get my QR pass").click()
    alert = page.get_by_role("alert")
    assert "Please correct the following" in alert.inner_text()
    number = page.get_by_label("Document number")
    assert number.get_attribute("aria-invalid") == "true"
    assert page.locator("#" + number.get_attribute("aria-describedby")).inner_text() == (
        "A CCCD number has exactly 12 digits."
    )


@pytest.fixture
def province(world: Any, db_url: str) -> Iterator[CentralServer]:  # noqa: F811
    from central_fixtures import FakeClock
    from test_progress import NOW
    from web_helpers import add_account

    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        add_account(central, "d1officer", "unit_officer", unit="D1")
        yield central


def sign_in(page: Any, url: str, username: str) -> None:
    from web_helpers import PASSWORD

    page.goto(url + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/staff")


def test_a_unit_officer_sees_the_counts_of_their_district_only(province: CentralServer, page: Any):
    from test_progress import D1
    from test_web_dashboard import shown

    sign_in(page, province.url, "d1officer")
    page.get_by_role("link", name="Tiến độ triển khai").first.click()
    page.wait_for_url("**/dashboard")
    on_screen = {
        name: page.locator(f'[data-figure="{name}"]').inner_text()
        for name in ("registered", "deployed", "coverage", "online", "devices_offline", "scans_today", "scans_7d")
    }
    assert on_screen == shown(D1)
    assert page.locator("#children tbody tr").count() == 2  # its two communes, not the other district's
    charts = page.locator("main svg[role=img]")
    assert charts.count() == 2 and "Lượt quét" in charts.first.inner_html()
    page.get_by_role("link", name="Xã Ea Pô").click()
    assert "Xã Ea Pô" in page.locator("h1").inner_text()
    page.goto(province.url + "/dashboard?unit=D2")
    assert page.locator("h1").inner_text() == "Không được phép"


# Phones and a desktop (issue 12, items 4 and 7): no page wider than the screen, figure boxes filling their rows,
# chart text no larger than the page's. KIOSK_TEST_SCREENSHOTS=<dir> keeps a screenshot of every page visited.
WIDTHS = (320, 390, 1280)


@pytest.fixture
def centre(world: Any, db_url: str, pass_key: PassKey) -> Iterator[CentralServer]:  # noqa: F811
    from central_fixtures import FakeClock
    from test_progress import NOW
    from test_tracing import add_scenario
    from web_helpers import add_account

    with CentralServer(db_url, clock=FakeClock(NOW), pass_key=pass_key) as central:
        add_scenario(central.engine)
        add_account(central, "admin", "administrator")
        add_account(central, "v4admin", "venue_admin", venue="V4")
        yield central


def declare_on(page: Any, server: CentralServer) -> None:
    page.goto(server.url + "/declare?lang=vi")
    page.get_by_label("Số giấy tờ").fill(CCCD_NUMBER)
    page.get_by_label("Số điện thoại di động").fill("0912345678")
    page.get_by_label("Không có triệu chứng nào").check()
    page.get_by_role("group", name="tiếp xúc gần").get_by_label("Không").check()
    page.get_by_role("group", name="phong toả").get_by_label("Không").check()
    page.get_by_role("button", name="Gửi tờ khai").click()
    page.wait_for_selector("svg.pass-qr")


PUBLIC: dict[str, Any] = {
    "landing": lambda page, url: page.goto(url + "/"),
    "declaration": lambda page, url: page.goto(url + "/declare"),
    "declaration, English": lambda page, url: page.goto(url + "/declare?lang=en"),
    "declaration errors": lambda page, url: (page.goto(url + "/declare"), page.get_by_role("button").last.click()),
    "sign-in": lambda page, url: page.goto(url + "/login"),
    "no such page": lambda page, url: page.goto(url + "/no-such-page"),
}
STAFF: dict[str, Any] = {
    "staff home": lambda page, url: page.goto(url + "/staff"),
    "dashboard, country": lambda page, url: page.goto(url + "/dashboard"),
    "dashboard, English": lambda page, url: page.goto(url + "/dashboard?unit=P&lang=en"),
    "dashboard, district": lambda page, url: page.goto(url + "/dashboard?unit=D2&lang=vi"),
    "dashboard, commune": lambda page, url: page.goto(url + "/dashboard?unit=C11"),
    "trace": lambda page, url: trace_on(page, url),
    "status list": lambda page, url: flag_on(page, url),
    "accounts": lambda page, url: page.goto(url + "/accounts"),
    "audit log": lambda page, url: page.goto(url + "/audit"),
}


def trace_on(page: Any, url: str) -> None:
    from test_tracing import P_NUMBER

    page.goto(url + "/trace")
    page.get_by_label("Số CCCD / CMND").fill(P_NUMBER)
    page.locator("#start").fill("2026-03-02T00:00")
    page.locator("#end").fill("2026-03-07T00:00")
    page.get_by_label("Cả tiếp xúc bậc 2").check()
    page.get_by_label("Lý do").fill("F0 case 12")
    page.get_by_role("button", name="Truy vết", exact=True).click()
    page.wait_for_selector("#contacts")


def flag_on(page: Any, url: str) -> None:
    page.goto(url + "/status-list")
    page.get_by_label("Mã chủ thể (32 ký tự hex)").fill("0123456789abcdef0123456789abcdef")
    page.get_by_label("Đỏ").check()
    page.get_by_label("Lý do (ghi vào nhật ký)").fill("F1 of case 12")
    page.get_by_role("button", name="Lưu").click()
    page.wait_for_selector("#entries tbody tr")


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the screen (0: it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def visit(
    browser: Any, width: int, steps: dict[str, Any], url: str, sign_in_as: str | None = None
) -> dict[str, object]:
    """Each step at `width`: how far each page overflows, and the addresses requested outside the centre."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN")
    context.set_default_timeout(15_000)
    elsewhere: list[str] = []
    context.on("request", lambda r: None if r.url.startswith((url, "data:")) else elsewhere.append(r.url))
    shots = os.environ.get("KIOSK_TEST_SCREENSHOTS")
    found: dict[str, object] = {}
    try:
        page = context.new_page()
        if sign_in_as:
            sign_in(page, url, sign_in_as)
        for name, step in steps.items():
            step(page, url)
            if shots:  # bytes, written here: a path would start a file-writer thread that outlives the server
                Path(shots, f"{width}-{name}.png").write_bytes(page.screenshot(full_page=True))
            if (extra := overflow(page)) > 0:
                found[name] = extra
    finally:
        context.close()
    return found | ({"requests elsewhere": elsewhere} if elsewhere else {})


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_the_screen_and_loads_nothing_from_elsewhere(centre: CentralServer, browser: Any, width: int):
    """Issue 12, item 4: at 390 px the pass's QR code ran 25 px off the screen (the <figure>'s 40 px margins)."""

    def pass_page(page: Any, url: str) -> None:
        declare_on(page, centre)

    public = visit(browser, width, PUBLIC | {"pass": pass_page}, centre.url)
    staff = visit(browser, width, STAFF, centre.url, sign_in_as="admin")
    assert public == {} and staff == {}


ROWS_JS = """() => {
  const boxes = [...document.querySelectorAll('.figures .figure')].map(b => b.getBoundingClientRect());
  const whole = document.querySelector('.figures').getBoundingClientRect();
  const rows = {};
  for (const b of boxes) (rows[Math.round(b.top)] ||= []).push([b.left - whole.left, whole.right - b.right]);
  return Object.values(rows).map(r => [r.length, Math.min(...r.map(x => x[0])), Math.min(...r.map(x => x[1]))]);
}"""


@pytest.mark.parametrize("width", [320, 390, 768, 1280])
def test_the_figure_boxes_fill_every_row(centre: CentralServer, browser: Any, width: int):
    """Issue 12, item 7: on a desktop the seventh figure box sat alone on a row of its own."""
    for username, count in (("admin", 7), ("v4admin", 5)):
        context = browser.new_context(viewport={"width": width, "height": 800})
        try:
            page = context.new_page()
            sign_in(page, centre.url, username)
            page.goto(centre.url + "/dashboard?unit=P")
            rows = page.evaluate(ROWS_JS)
        finally:
            context.close()
        assert sum(n for n, _, _ in rows) == count
        assert all(left < 1 and right < 1 for _, left, right in rows), (username, rows)  # [boxes, gap left, right]


CHART_TEXT_JS = """() => [...document.querySelectorAll('main svg[role=img]')].map(svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return parseFloat(svg.getAttribute('font-size')) * scale / parseFloat(getComputedStyle(document.body).fontSize);
})"""


@pytest.mark.parametrize("width", [320, 1280])
def test_chart_text_is_about_the_size_of_the_pages(centre: CentralServer, browser: Any, width: int):
    """Issue 12, item 7: on a desktop the charts' text was 2.5 times the page's."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, centre.url, "admin")
        page.goto(centre.url + "/dashboard?unit=P")
        ratios = page.evaluate(CHART_TEXT_JS)
    finally:
        context.close()
    assert len(ratios) == 2 and all(0.6 <= r <= 1.05 for r in ratios), ratios


@pytest.mark.parametrize("width", [320, 1280])
def test_a_venues_gate_rules_page_fits_the_screen_and_saves_from_it(centre: CentralServer, browser: Any, width: int):
    """The gate rules page (central/web/rules_pages.py) with its refusals, saved, with its history, and in English:
    never wider than the screen, nothing loaded from elsewhere; what the venue admin chose is what is kept."""
    from central.gaterules import rules_of

    def refused(page: Any, url: str) -> None:
        page.goto(url + "/venues/V4/rules")
        page.get_by_label("Thời gian mở cổng (giây)").fill("20")
        page.get_by_role("button", name="Lưu quy tắc").click()
        page.wait_for_selector("#form-errors")
        assert "Thời gian mở cổng: số giây từ 1 đến 10." in page.get_by_role("alert").inner_text()

    def saved(page: Any, url: str) -> None:
        page.goto(url + "/venues/V4/rules")
        page.get_by_label("Chế độ kiểm tra").select_option("access")
        page.get_by_label("Người chưa đăng ký").select_option("review")
        page.get_by_label("Thời gian mở cổng (giây)").fill("2,5")
        page.get_by_label("Lý do").fill("Nhà máy chỉ cho công nhân đã đăng ký vào cổng chính từ hôm nay")
        page.get_by_role("button", name="Lưu quy tắc").click()
        page.wait_for_selector("#history tbody li")

    steps = {
        "gate rules, refused": refused,
        "gate rules, saved": saved,
        "gate rules, English": lambda page, url: page.goto(url + "/venues/V4/rules?lang=en"),
    }
    assert visit(browser, width, steps, centre.url, sign_in_as="v4admin") == {}
    with centre.engine.connect() as conn:
        assert rules_of(conn, "V4") == {"mode": "access", "strangers": "review", "relay_hold_s": 2.5}


LONG_HOST = "Phòng Kỹ thuật và Bảo dưỡng thiết bị của Xưởng lắp ráp số 2, tầng 3, khu nhà điều hành"[:80]
LONG_PURPOSE = "Kiểm tra định kỳ hệ thống phòng cháy chữa cháy và thang máy theo hợp đồng bảo trì năm"[:80]


@pytest.mark.parametrize("width", [320, 1280])
def test_who_is_inside_fits_the_screen_and_prints_the_roll_call(
    centre: CentralServer, browser: Any, width: int, monkeypatch: pytest.MonkeyPatch
):
    """The roll call (central/web/visits_pages.py) on a phone at the assembly point and on a desktop, with a host and
    a purpose of 80 letters: never wider than the screen, nothing loaded from elsewhere; printed without the
    navigation and the form, with a column to tick each person off."""
    from test_visits import Factory, a_gate, enrol, factory_day

    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Ho_Chi_Minh")
    enrol(centre.engine, "V4")
    day = factory_day(Factory(centre.engine, a_gate(centre.engine, "V4"), a_gate(centre.engine, "V1")))
    day.visit("c" * 32, "11:00", LONG_HOST, LONG_PURPOSE, "1234")
    roll_call = "/venues/V4/inside?at=2026-12-07T18:00"

    def from_the_form(page: Any, url: str) -> None:
        page.goto(url + roll_call)
        page.get_by_label("Xem lúc (giờ hôm nay)").fill("10:30")
        page.get_by_role("button", name="Xem", exact=True).click()
        page.wait_for_url("**/inside?at=10%3A30")

    steps = {
        "who is inside": lambda page, url: page.goto(url + roll_call),
        "who is inside, English": lambda page, url: page.goto(url + roll_call + "&lang=en"),
        "who is inside, refused": lambda page, url: page.goto(url + "/venues/V4/inside?at=soon&lang=vi"),
        "who is inside, from the form": from_the_form,
    }
    assert visit(browser, width, steps, centre.url, sign_in_as="v4admin") == {}
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN")
    try:
        page = context.new_page()
        sign_in(page, centre.url, "v4admin")
        page.goto(centre.url + roll_call)
        assert page.locator("#count").inner_text() == "6"
        assert LONG_HOST in page.locator("#visitors").inner_text()
        tick = page.locator("#visitors th.print-only")
        assert not tick.is_visible() and page.locator("form.roll-when").is_visible()
        page.emulate_media(media="print")
        assert tick.is_visible() and tick.inner_text() == "Có mặt"
        assert not page.locator("header.top").is_visible() and not page.locator("form.roll-when").is_visible()
        assert page.locator("#count").is_visible() and page.locator("#others tbody tr").count() == 2
        if shots := os.environ.get("KIOSK_TEST_SCREENSHOTS"):
            Path(shots, f"{width}-who is inside, printed.png").write_bytes(page.screenshot(full_page=True))
    finally:
        context.close()
