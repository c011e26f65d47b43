"""The centre's pages in a real browser (headless Chromium, tests/browser.py), against a real server on
loopback: what a person, a unit officer and a tracer actually see and do."""

from __future__ import annotations

import json
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


def sign_in(page: Any, server: CentralServer, username: str) -> None:
    from web_helpers import PASSWORD

    page.goto(server.url + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url("**/staff")


def test_a_unit_officer_sees_the_counts_of_their_district_only(province: CentralServer, page: Any):
    from test_progress import D1
    from test_web_dashboard import shown

    sign_in(page, province, "d1officer")
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
