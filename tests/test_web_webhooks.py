"""The staff page /webhooks (central/web/webhooks_pages.py): each role sees the endpoints of its area only, failing
ones first with their backlog, last error and next retry; every word in the page's language; never the secret or
a URL's path; and it fits a 320 px phone (headless chromium)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue
from test_webhooks import places, upload
from web_helpers import Staff, add_account, wrong_language

from central.feed.scope import parse_scope
from central.webhooks.delivery import Delivery
from central.webhooks.endpoints import add_endpoint

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    """Endpoints "hn" (unit HN, whose receiver is down), "v1" (venue V1) and "hcm" (unit HCM), and one account of
    each role; "hn" has failed once and holds a backlog."""
    with CentralServer(db_url, clock=FakeClock(START)) as central:
        devices = places(central.engine)
        secrets = {}
        with central.engine.begin() as conn:
            for name, unit, venue in (("hn", "HN", None), ("v1", None, "V1"), ("hcm", "HCM", None)):
                url = f"http://127.0.0.1:9/{name}/path-with-token?k=receivers-own"
                secrets[name] = add_endpoint(conn, name, url, parse_scope(conn, unit, venue), None, START)[1]
        upload(central.engine, devices["V2"], 4)
        Delivery(central.engine, clock=central.clock, timeout_s=0.5, rng=random.Random(1)).run_once()
        add_unit(central.engine, "X")
        add_venue(central.engine, "VX", "X")
        add_account(central, "admin", "administrator")
        add_account(central, "hnofficer", "unit_officer", unit="HN")
        add_account(central, "bdofficer", "unit_officer", unit="HN-BD")
        add_account(central, "v1admin", "venue_admin", venue="V1")
        add_account(central, "vxadmin", "venue_admin", venue="VX")
        add_account(central, "tracer", "tracer", unit="HN")
        central.secrets = secrets  # type: ignore[attr-defined]
        yield central


def signed_in(server: CentralServer, username: str, lang: str = "vi") -> Staff:
    staff = Staff(server)
    staff.get(f"/login?lang={lang}")
    assert staff.login(username).status_code == 303
    return staff


def names(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)<br>', html)


@pytest.mark.parametrize(
    ("username", "seen"),
    [("admin", ["hn", "hcm", "v1"]), ("hnofficer", ["hn", "v1"]), ("bdofficer", ["v1"]), ("v1admin", ["v1"])],
)
def test_each_role_sees_the_endpoints_of_its_area_failing_first(server: CentralServer, username: str, seen: list[str]):
    page = signed_in(server, username).get("/webhooks")
    assert page.status_code == 200
    assert names(page.text) == seen
    for secret in server.secrets.values():  # type: ignore[attr-defined]
        assert secret not in page.text
    assert "path-with-token" not in page.text and "receivers-own" not in page.text


def test_the_failing_endpoint_shows_its_backlog_error_and_next_retry(server: CentralServer) -> None:
    page = signed_in(server, "hnofficer", "en").get("/webhooks?lang=en").text
    row = page.split('<tr class="failing">')[1].split("</tr>")[0]
    assert "Failing" in row and "Could not connect to the receiver." in row and "<td>4</td>" in row and "Never" in row
    assert wrong_language(page, "en") == []
    vi = signed_in(server, "hnofficer").get("/webhooks").text
    assert "Đang lỗi" in vi and "Webhook gửi đi" in vi and "Đơn vị HN · 127.0.0.1" in vi and "Địa điểm V1" in vi
    assert "Unit HN · 127.0.0.1" in page and "Venue V1" in page
    assert '<a href="/webhooks">Webhook gửi đi</a>' in vi  # in the staff menu
    assert wrong_language(vi, "vi") == []


def test_no_endpoint_in_the_area_says_so_and_others_are_refused(server: CentralServer) -> None:
    page = signed_in(server, "vxadmin").get("/webhooks")
    assert page.status_code == 200 and 'id="no-webhooks"' in page.text
    assert signed_in(server, "tracer").get("/webhooks").status_code == 403
    stranger = Staff(server).get("/webhooks")
    assert stranger.status_code == 303 and stranger.headers["location"].startswith("/login")


@pytest.mark.parametrize("width", [320])
def test_the_page_fits_a_phone(server: CentralServer, browser: Any, width: int) -> None:
    from test_browser import overflow, sign_in

    context = browser.new_context(viewport={"width": width, "height": 800}, locale="vi-VN")
    try:
        page = context.new_page()
        sign_in(page, server.url, "admin")
        page.goto(server.url + "/webhooks")
        assert page.locator("h1").inner_text() == "Webhook gửi đi"
        assert overflow(page) == 0
    finally:
        context.close()
