"""A venue's gate rules on the staff page /venues/{code}/rules and the JSON API /api/v1/venues/{code}/rules, over
HTTP: both languages, who may see which venue, CSRF, refusals in the page's language, and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue
from sqlalchemy import select
from web_helpers import Staff, add_account, csrf_of, wrong_language

from central.gaterules import change_rules, rules_of
from central.schema import audit_log

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 09:00 in Hanoi
EMPTY_FORM = {name: "" for name in ("mode", "strangers", "anti_passback_s", "trust_list_max_h",
              "vaccination_wait_days", "test_max_age_h", "recovery_max_days", "relay_hold_s", "language")}  # fmt: skip
OPENAPI = Path(__file__).resolve().parent.parent / "central" / "openapi.json"


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    """HN > BD (venue V1) and SG (venue V2); an officer of HN, a venue admin of V1, a tracer, an administrator."""
    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        add_unit(central.engine, "HN", "Hà Nội")
        add_unit(central.engine, "BD", "Ba Đình", parent="HN")
        add_unit(central.engine, "SG", "Hồ Chí Minh")
        add_venue(central.engine, "V1", "BD", "factory")
        add_venue(central.engine, "V2", "SG", "factory")
        add_account(central, "admin", "administrator")
        add_account(central, "officer", "unit_officer", unit="HN")
        add_account(central, "v1admin", "venue_admin", venue="V1")
        add_account(central, "tracer", "tracer", unit="HN")
        yield central


def signed_in(server: CentralServer, username: str | None, lang: str = "vi") -> Staff:
    staff = Staff(server)
    staff.get(f"/login?lang={lang}")  # the language cookie
    if username:
        assert staff.login(username).status_code == 303
    return staff


def rules(server: CentralServer, venue: str = "V1") -> dict[str, Any]:
    with server.engine.connect() as conn:
        return rules_of(conn, venue)


def audited(server: CentralServer) -> list[Any]:
    with server.engine.connect() as conn:
        return list(conn.execute(select(audit_log).order_by(audit_log.c.id)))


def save(staff: Staff, venue: str = "V1", **fields: str) -> requests.Response:
    path = f"/venues/{venue}/rules"
    return staff.form_post(path, path, EMPTY_FORM | fields)


# The page


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("vi", "Các kiosk của địa điểm nhận thay đổi ở lần lấy cấu hình kế tiếp (mặc định 5 phút một lần)."),
        ("en", "The venue's kiosks take a change at their next config pull (every 5 minutes by default)."),
    ],
)
def test_the_page_speaks_one_language_and_says_when_kiosks_take_a_change(server: CentralServer, lang: str, says: str):
    with server.engine.begin() as conn:  # a history to show: its values in the page's words, never as codes
        change_rules(conn, "V1", values={"mode": "log-only", "relay_hold_s": 2.5}, actor="admin", reason="", now=NOW)
    page = signed_in(server, "admin", lang).get("/venues/V1/rules")
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
    assert says.replace("'", "&#39;") in page.text
    assert wrong_language(page.text, lang) == [] and "log-only" not in page.text.split('id="history"')[1]
    shown = "2,5" if lang == "vi" else "2.5"
    assert f"→ {shown}" in page.text and ("Chỉ ghi nhận" if lang == "vi" else "Log only") in page.text
    assert 'value="2.5"' in page.text  # the form, as it is sent back


def test_an_officer_saves_the_rules_audited_and_the_form_is_the_whole_set(server: CentralServer):
    officer = signed_in(server, "officer")
    done = save(officer, mode="access", strangers="review", relay_hold_s="2,5", language="en", reason="opening")
    assert done.status_code == 303 and done.headers["location"] == "/venues/V1/rules"
    assert rules(server) == {"mode": "access", "strangers": "review", "relay_hold_s": 2.5, "language": "en"}
    (row,) = audited(server)
    assert (row.actor, row.action, row.subject, row.reason, row.address) == (
        "officer",
        "venue-rules-set",
        "V1",
        "opening",
        "127.0.0.1",
    )
    assert row.detail["after"] == {"mode": "access", "strangers": "review", "relay_hold_s": 2.5, "language": "en"}
    page = officer.get("/venues/V1/rules").text
    assert '<option value="access" selected>' in page and '<option value="en" selected>' in page
    assert save(officer, mode="access", language="en").status_code == 303  # the fields left empty: the kiosk's own
    assert rules(server) == {"mode": "access", "language": "en"}
    assert audited(server)[-1].detail == {
        "before": {"strangers": "review", "relay_hold_s": 2.5},
        "after": {"strangers": None, "relay_hold_s": None},
    }
    assert "Đổi quy tắc cổng" in signed_in(server, "admin").get("/audit").text


@pytest.mark.parametrize(
    ("username", "venue", "status"),
    [
        ("admin", "V1", 200),
        ("admin", "V2", 200),
        ("admin", "NOPE", 404),
        ("officer", "V1", 200),  # a venue of a unit below theirs
        ("officer", "V2", 403),
        ("officer", "NOPE", 403),  # refused as a venue elsewhere is: no probing for codes
        ("v1admin", "V1", 200),
        ("v1admin", "V2", 403),
        ("tracer", "V1", 403),
    ],
)
def test_each_role_sees_only_its_venues(server: CentralServer, username: str, venue: str, status: int):
    staff = signed_in(server, username)
    assert staff.get(f"/venues/{venue}/rules").status_code == status
    token = csrf_of(staff.get("/staff").text)
    posted = staff.post(f"/venues/{venue}/rules", EMPTY_FORM | {"mode": "access", "csrf": token})
    assert posted.status_code == (303 if status == 200 else status)
    if status != 200 and venue != "NOPE":
        assert rules(server, venue) == {} and audited(server) == []


def test_a_stranger_is_sent_to_sign_in(server: CentralServer):
    answer = signed_in(server, None).get("/venues/V1/rules")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2Fvenues%2FV1%2Frules"


@pytest.mark.parametrize("token", [None, "", "forged-token-forged-token"])
def test_a_form_without_its_csrf_token_changes_nothing(server: CentralServer, token: str | None):
    officer = signed_in(server, "officer")
    form = EMPTY_FORM | {"mode": "access"} | ({} if token is None else {"csrf": token})
    assert officer.post("/venues/V1/rules", form).status_code == 403
    assert rules(server) == {} and audited(server) == []


BAD = {"mode": "open", "relay_hold_s": "20", "test_max_age_h": "0", "anti_passback_s": "một phút", "language": "fr"}
SAID = {
    "vi": [
        "Chế độ kiểm tra: chọn một chế độ trong danh sách.",
        "Thời gian mở cổng: số giây từ 1 đến 10.",
        "Hiệu lực của xét nghiệm âm tính: số giờ lớn hơn 0, tối đa 720.",
        "Chống quay lại: số giây từ 0 đến 86400 (0: tắt).",
        "Ngôn ngữ của kiosk: chọn tiếng Việt hoặc tiếng Anh.",
    ],
    "en": [
        "Gate mode: choose one from the list.",
        "Time the gate stays open: a number of seconds from 1 to 10.",
        "How long a negative test counts: a number of hours above 0, at most 720.",
        "Anti-passback: a number of seconds from 0 to 86400 (0: off).",
        "Language of the kiosks: choose Vietnamese or English.",
    ],
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_bad_values_are_shown_in_the_pages_language_naming_each_field(server: CentralServer, lang: str):
    officer = signed_in(server, "officer", lang)
    answer = save(officer, strangers="deny", reason="thử", **BAD)
    assert answer.status_code == 422 and f'<html lang="{lang}">' in answer.text
    for message in SAID[lang]:
        assert answer.text.count(message) == 2, message  # in the list at the top and at its field
    assert answer.text.count('aria-invalid="true"') == len(BAD)
    assert 'value="20"' in answer.text and 'value="một phút"' in answer.text and 'value="thử"' in answer.text
    assert '<option value="deny" selected>' in answer.text  # what was right is kept too
    assert wrong_language(answer.text, lang) == []
    assert rules(server) == {} and audited(server) == []


def test_the_links_to_the_page(server: CentralServer):
    assert 'href="/venues/V1/rules"' in signed_in(server, "officer").get("/dashboard?unit=BD").text
    venue_admin = signed_in(server, "v1admin")
    assert 'href="/venues/V1/rules"' in venue_admin.get("/staff").text  # in the navigation
    assert 'href="/venues/V1/rules"' in venue_admin.get("/dashboard").text


# The API


def api(staff: Staff, method: str, venue: str = "V1", **kwargs: Any) -> requests.Response:
    return staff.session.request(method, f"{staff.base}/api/v1/venues/{venue}/rules", timeout=30, **kwargs)


def test_the_api_reads_and_replaces_the_rules_with_the_sessions_csrf_token(server: CentralServer):
    officer = signed_in(server, "officer")
    read = api(officer, "GET")
    assert read.status_code == 200 and read.json() == {"venue": "V1", "rules": {}}
    assert read.headers["cache-control"] == "no-store"
    token = {"X-CSRF-Token": read.headers["X-CSRF-Token"]}
    put = api(officer, "PUT", json={"mode": "access", "relay_hold_s": 5}, headers=token, params={"reason": "API"})
    assert put.status_code == 200 and put.json() == {"venue": "V1", "rules": {"mode": "access", "relay_hold_s": 5}}
    assert rules(server) == {"mode": "access", "relay_hold_s": 5}
    (row,) = audited(server)
    assert (row.actor, row.subject, row.reason) == ("officer", "V1", "API")
    put = api(officer, "PUT", json={"language": "en", "mode": None}, headers=token)  # the whole set: PUT replaces
    assert put.status_code == 200 and rules(server) == {"language": "en"}
    assert api(officer, "GET").json()["rules"] == {"language": "en"}


@pytest.mark.parametrize("headers", [{}, {"X-CSRF-Token": "forged"}])
def test_a_put_without_the_csrf_header_is_refused(server: CentralServer, headers: dict[str, str]):
    officer = signed_in(server, "officer")
    answer = api(officer, "PUT", json={"mode": "access"}, headers=headers)
    assert answer.status_code == 403 and "X-CSRF-Token" in answer.json()["detail"]
    assert rules(server) == {} and audited(server) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"relay_hold_s": 20}, "relay_hold_s"),
        ({"mode": "open"}, "mode"),
        ({"strangers": "allow"}, "strangers"),
        ({"anti_passback_s": True}, "anti_passback_s"),
        ({"review": "on"}, "review"),  # no such rule
        ({"test_max_age_h": 0}, "test_max_age_h"),
    ],
)
def test_the_api_refuses_a_bad_value_naming_its_field(server: CentralServer, body: dict[str, Any], field: str):
    officer = signed_in(server, "officer")
    token = {"X-CSRF-Token": api(officer, "GET").headers["X-CSRF-Token"]}
    answer = api(officer, "PUT", json=body, headers=token)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/json"
    assert [error["loc"] for error in answer.json()["detail"]] == [["body", field]]
    assert rules(server) == {} and audited(server) == []


@pytest.mark.parametrize(
    ("username", "venue", "status"),
    [
        (None, "V1", 401),
        ("tracer", "V1", 403),
        ("officer", "V2", 403),
        ("officer", "NOPE", 403),
        ("v1admin", "V2", 403),
        ("admin", "NOPE", 404),
        ("admin", "V2", 200),
        ("v1admin", "V1", 200),
    ],
)
def test_the_api_answers_each_role_in_json(server: CentralServer, username: str | None, venue: str, status: int):
    staff = signed_in(server, username)
    read = api(staff, "GET", venue)
    assert read.status_code == status and read.headers["content-type"] == "application/json"
    token = read.headers.get("X-CSRF-Token") or (csrf_of(staff.get("/staff").text) if username else "none")
    put = api(staff, "PUT", venue, json={"mode": "pass"}, headers={"X-CSRF-Token": token})
    assert put.status_code == status and (status == 200 or "detail" in put.json())
    if status != 200 and venue != "NOPE":
        assert rules(server, venue) == {} and audited(server) == []


def test_the_api_is_in_the_openapi_document_and_the_page_is_not():
    paths = json.loads(OPENAPI.read_text())["paths"]
    assert set(paths["/api/v1/venues/{code}/rules"]) == {"get", "put"}
    assert not [path for path in paths if not path.startswith(("/api/", "/healthz"))]


def test_a_nul_in_a_venue_code_or_a_reason_is_refused_not_a_server_error(server: CentralServer):
    """PostgreSQL stores no NUL: a lookup or an audit reason with one would be a 500 there."""
    admin = signed_in(server, "admin")
    assert admin.get("/venues/V1%00/rules").status_code == 422
    assert api(admin, "GET", "V1%00").status_code == 422
    token = {"X-CSRF-Token": api(admin, "GET").headers["X-CSRF-Token"]}
    assert api(admin, "PUT", json={"mode": "pass"}, headers=token, params={"reason": "a\x00b"}).status_code == 422
    assert save(admin, mode="pass", reason="a\x00b").status_code == 422
    assert api(admin, "GET", "Nhà-máy").status_code == 404  # any other character is just a code no venue has
    assert rules(server) == {} and audited(server) == []


# The visitor desk's lists: a textarea each, one entry a line


def test_the_visit_lists_are_saved_one_a_line_and_shown_so(server: CentralServer):
    officer = signed_in(server, "officer")
    typed = "Phòng Nhân sự\r\n\r\n  Kho  \r\nBảo\tvệ\r\n"
    assert save(officer, visit_hosts=typed, visit_purposes="Phỏng vấn", reason="desk").status_code == 303
    assert rules(server) == {"visit_hosts": ["Phòng Nhân sự", "Kho", "Bảo vệ"], "visit_purposes": ["Phỏng vấn"]}
    page = officer.get("/venues/V1/rules").text
    assert 'name="visit_hosts" rows="4" autocomplete="off">Phòng Nhân sự\nKho\nBảo vệ</textarea>' in page
    assert "Người khách đến gặp: theo kiosk → Phòng Nhân sự; Kho; Bảo vệ" in " ".join(page.split())
    assert save(officer, visit_purposes="Phỏng vấn").status_code == 303  # the form is the whole set
    assert rules(server) == {"visit_purposes": ["Phỏng vấn"]}


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        ("vi", "Người khách đến gặp: từ 1 đến 50 dòng khác nhau, mỗi dòng tối đa 80 ký tự."),
        ("en", "Whom visitors come to see: 1 to 50 different lines, each at most 80 characters."),
    ],
)
def test_a_visit_list_too_long_is_refused_in_the_pages_language(server: CentralServer, lang: str, says: str):
    staff = signed_in(server, "admin", lang)
    typed = "\n".join(f"Phòng {n}" for n in range(51))
    page = save(staff, visit_hosts=typed, mode="access")
    assert page.status_code == 422 and says in page.text and wrong_language(page.text, lang) == []
    assert (
        'aria-invalid="true" aria-describedby="visit_hosts-error"' in page.text and "Phòng 50</textarea>" in page.text
    )
    assert save(staff, visit_purposes="Kho\nKho").status_code == 422  # an entry twice
    assert save(staff, visit_purposes="x" * 81).status_code == 422
    assert rules(server) == {} and audited(server) == []


def test_the_api_puts_the_visit_lists_as_json_lists(server: CentralServer):
    officer = signed_in(server, "officer")
    token = {"X-CSRF-Token": api(officer, "GET").headers["X-CSRF-Token"]}
    put = api(officer, "PUT", json={"visit_hosts": ["Kho"], "visit_purposes": ["Giao hàng"]}, headers=token)
    assert put.status_code == 200 and put.json()["rules"] == {"visit_hosts": ["Kho"], "visit_purposes": ["Giao hàng"]}
    for wrong in ("Kho", [], ["Kho", "Kho"], ["a\x00"]):
        refused = api(officer, "PUT", json={"visit_hosts": wrong}, headers=token)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][:2] == ["body", "visit_hosts"]
    assert rules(server) == {"visit_hosts": ["Kho"], "visit_purposes": ["Giao hàng"]}


def test_the_rules_page_links_to_who_is_inside(server: CentralServer):
    assert 'href="/venues/V1/inside"' in signed_in(server, "v1admin").get("/venues/V1/rules").text
