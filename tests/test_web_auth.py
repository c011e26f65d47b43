"""Staff sign-in over real HTTP on loopback: argon2 passwords, sessions, CSRF, throttling, roles, headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from central_fixtures import CentralServer, FakeClock, add_unit
from sqlalchemy import func, select
from web_helpers import PASSWORD, Staff, add_account, csrf_of

from central.schema import accounts, audit_log, web_sessions


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(db_url: str, clock: FakeClock) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=clock) as central:
        add_unit(central.engine, "HN", "Hà Nội")
        add_account(central, "admin", "administrator")
        add_account(central, "officer", "unit_officer", unit="HN")
        yield central


def test_sign_in_sets_a_session_cookie_that_only_http_can_read(server: CentralServer):
    staff = Staff(server)
    answer = staff.login("admin")
    assert answer.status_code == 303 and answer.headers["location"] == "/staff"
    cookie = answer.headers["set-cookie"].lower()
    assert "kc_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    home = staff.get("/staff")
    assert home.status_code == 200 and "Xin chào, admin" in home.text
    with server.engine.connect() as conn:
        (stored,) = conn.execute(select(web_sessions.c.token_hash)).scalars()
        (hashed,) = conn.execute(select(accounts.c.password_hash).where(accounts.c.username == "admin")).scalars()
    assert staff.session.cookies["kc_session"] not in stored  # only the token's hash is kept
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(server: CentralServer):
    staff = Staff(server)
    for _ in range(5):
        refused = staff.login("admin", "not the password")
        assert refused.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in refused.text
    blocked = staff.login("admin")  # the right password, but too late
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert staff.get("/staff").status_code == 303
    server.clock.advance(16 * 60)  # type: ignore[attr-defined]
    assert staff.login("admin").status_code == 303


def test_a_username_with_a_nul_character_is_refused_not_a_server_error(server: CentralServer):
    """PostgreSQL stores no NUL: looking such a name up was a 500 there."""
    staff = Staff(server)
    assert staff.login("ad\x00min").status_code == 422
    assert staff.login("admin").status_code == 303


def test_pages_need_a_session_and_the_right_role(server: CentralServer):
    anonymous = Staff(server)
    redirect = anonymous.get("/accounts")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/login?next=%2Faccounts"
    officer = Staff(server)
    officer.login("officer")
    assert officer.get("/accounts").status_code == 403
    assert officer.get("/audit").status_code == 403
    assert officer.get("/staff").status_code == 200


def test_forms_without_the_sessions_csrf_token_are_refused(server: CentralServer):
    admin = Staff(server)
    admin.login("admin")
    form = {"username": "newbie", "password": PASSWORD, "role": "administrator"}
    assert admin.post("/accounts", {**form, "csrf": "forged"}).status_code == 403
    assert admin.post("/accounts", form).status_code == 422  # no token at all: refused by validation
    login_page = Staff(server).get("/login")
    stranger = Staff(server)  # a token from someone else's form cookie does not match this browser's
    answer = stranger.post("/login", {"username": "admin", "password": PASSWORD, "csrf": csrf_of(login_page.text)})
    assert answer.status_code == 403
    with server.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(accounts.c.username == "newbie")).scalar_one() == 0


def test_an_administrator_adds_and_disables_accounts_and_it_is_audited(server: CentralServer):
    admin = Staff(server)
    admin.login("admin")
    form = {"username": "tracer1", "password": PASSWORD, "role": "tracer", "unit": "HN"}
    assert admin.form_post("/accounts", "/accounts", form).status_code == 303
    short = admin.form_post("/accounts", "/accounts", {**form, "username": "x2", "password": "short"})
    assert short.status_code == 422 and "12" in short.text
    tracer = Staff(server)
    assert tracer.login("tracer1").status_code == 303
    assert admin.form_post("/accounts", "/accounts/tracer1/disable", {}).status_code == 303
    assert tracer.get("/staff").status_code == 303  # its session ended with the account
    assert tracer.login("tracer1").status_code == 401
    with server.engine.connect() as conn:
        actions = conn.execute(select(audit_log.c.action, audit_log.c.actor, audit_log.c.subject)).all()
    assert [tuple(a) for a in actions] == [("account-add", "admin", "tracer1"), ("account-disable", "admin", "tracer1")]


def test_sign_out_ends_the_session_and_idle_sessions_expire(server: CentralServer, clock: FakeClock):
    staff = Staff(server)
    staff.login("admin")
    assert staff.form_post("/staff", "/logout", {}).status_code == 303
    assert staff.get("/staff").status_code == 303
    staff.login("admin")
    clock.advance(2 * 3600 + 1)
    assert staff.get("/staff").status_code == 303


def test_no_open_redirect_after_sign_in(server: CentralServer):
    staff = Staff(server)
    page = staff.get("/login?next=//evil.example/x")
    answer = staff.post(
        "/login", {"username": "admin", "password": PASSWORD, "csrf": csrf_of(page.text), "next": "//evil.example/x"}
    )
    assert answer.headers["location"] == "/staff"


def test_pages_carry_security_headers_and_speak_both_languages(server: CentralServer):
    staff = Staff(server)
    page = staff.get("/login?lang=en")
    assert "Staff sign-in" in page.text and '<html lang="en">' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "Cán bộ đăng nhập" in Staff(server).get("/login").text


def test_the_api_docs_are_off_and_the_openapi_document_is_for_staff_only(server: CentralServer):
    """Issue 12, item 8: /docs and /redoc loaded Swagger from a public CDN, for anyone. The centre loads nothing
    from elsewhere: the pages are off, and the OpenAPI document is served to signed-in staff only."""
    import json
    from pathlib import Path

    anonymous = Staff(server)
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = anonymous.get(path)
        assert answer.status_code == 404 and "cdn" not in answer.text.lower(), path
    assert anonymous.get("/openapi.json").status_code == 303  # to the sign-in page
    officer = Staff(server)
    officer.login("officer")
    document = officer.get("/openapi.json")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    committed = Path(__file__).resolve().parent.parent / "central" / "openapi.json"
    assert document.json() == json.loads(committed.read_text())


def test_every_page_links_a_favicon_served_from_here(server: CentralServer):
    visitor = Staff(server)
    page = visitor.get("/")
    icon = re.search(r'<link rel="icon" href="(/static/[^"]+)"', page.text)
    assert icon, "no favicon link"
    served = visitor.get(icon.group(1))
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
    assert visitor.get("/favicon.ico").status_code == 200  # what browsers ask for without a link
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere
