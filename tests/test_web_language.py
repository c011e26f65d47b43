"""Every page speaks one language: Vietnamese by default, English one link away. The error paths of every page
are walked in both, and no sentence of the other language shows (issue 12, item 5: the trace page answered an
ID number of 5 digits in English)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue
from test_web_status import NOW
from web_helpers import PASSWORD, Staff, add_account, csrf_of, wrong_language

from central.passkeys import PassKey, load_pass_key

VALID_ID = "001090012345"
Step = Callable[[Staff], requests.Response]


@pytest.fixture
def pass_key(tmp_path: Path) -> PassKey:
    return load_pass_key(tmp_path / "pass.key")


@pytest.fixture
def server(db_url: str, pass_key: PassKey) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW), pass_key=pass_key) as central:
        add_unit(central.engine, "HN", "Hà Nội")
        add_venue(central.engine, "V1", "HN", "factory")  # a venue's pages: its gate rules, who is inside
        add_account(central, "admin", "administrator")
        add_account(central, "tracer", "tracer", unit="HN")
        yield central


def trace(**fields: str) -> Step:
    form = {"reason": "F0", "start": "2026-11-20T00:00", "end": "2026-11-26T00:00"} | fields
    return lambda staff: staff.form_post("/trace", "/trace", form)


def trace_picture(picture: bytes) -> Step:
    def post(staff: Staff) -> requests.Response:
        form = {"reason": "F0", "csrf": csrf_of(staff.get("/trace").text)}
        return staff.session.post(staff.base + "/trace", data=form, files={"qr_image": ("qr.png", picture)}, timeout=30)

    return post


def flag(**fields: str) -> Step:
    form = {"identity_number": VALID_ID, "status": "red", "until": "2026-12-01", "reason": "F1"} | fields
    return lambda staff: staff.form_post("/status-list", "/status-list", {k: v for k, v in form.items() if v != "-"})


def account(**fields: str) -> Step:
    form = {"username": "newbie", "password": PASSWORD, "role": "tracer", "unit": "HN"} | fields
    return lambda staff: staff.form_post("/accounts", "/accounts", form)


def login(username: str) -> Step:
    return lambda p: p.post("/login", {"username": username, "password": "x", "csrf": csrf_of(p.get("/login").text)})


def declare(**fields: str) -> Step:
    def post(person: Staff) -> requests.Response:
        return person.post("/declare", {**fields, "csrf": csrf_of(person.get("/declare").text)})

    return post


ANONYMOUS: dict[str, Step] = {
    "no such page": lambda p: p.get("/no-such-page"),
    "api docs": lambda p: p.get("/docs"),
    "GET on a form's action": lambda p: p.get("/logout"),
    "wrong password": login("admin"),
    "NUL in a username": login("a\x00"),
    "username too long": login("a" * 65),
    "form without its token": lambda p: p.post("/declare", {"phone": "0912345678"}),
    "empty declaration": declare(),
    "wrong declaration": declare(identity_type="cccd", identity_number="12345", phone="12", symptoms="none"),
}  # fmt: skip
TRACER: dict[str, Step] = {
    "ID of 5 digits": trace(identity_number="12345"),
    "not a subject key": trace(subject_key="xyz"),
    "two people": trace(identity_number=VALID_ID, subject_key="0" * 32),
    "no one": trace(),
    "a code without identity": trace(qr_text="https://example.vn/menu"),
    "no reason": trace(identity_number=VALID_ID, reason=" "),
    "not a time": trace(identity_number=VALID_ID, start="hôm qua"),
    "end before start": trace(identity_number=VALID_ID, start="2026-11-25T00:00", end="2026-11-24T00:00"),
    "dwell not a number": trace(identity_number=VALID_ID, default_dwell_min="abc"),
    "dwell too long": trace(identity_number=VALID_ID, default_dwell_min="5000"),
    "not a picture": trace_picture(b"not a picture"),
    "status blue": flag(status="blue"),
    "until not a date": flag(until="soon"),
    "until too far": flag(until="2027-06-01"),
    "until past": flag(until="2026-11-01"),
    "flag without reason": flag(reason=" "),
    "flag a bad number": flag(identity_number="123"),
    "clear a bad key": lambda s: s.form_post("/status-list", "/status-list/clear", {"subject_key": "x", "reason": "r"}),
    "clear without reason": lambda s: s.form_post("/status-list", "/status-list/clear", {"subject_key": "0" * 32}),
    "accounts page": lambda s: s.get("/accounts"),
    "NUL in a unit code": lambda s: s.get("/dashboard?unit=P%00"),
    "who is inside, for a tracer": lambda s: s.get("/venues/V1/inside"),
}  # fmt: skip
ADMIN: dict[str, Step] = {
    "short password": account(password="short"),
    "bad username": account(username="X!"),
    "existing username": account(username="tracer"),
    "tracer without unit": account(unit=""),
    "unknown unit": account(unit="NOPE"),
    "venue admin without venue": account(role="venue_admin", unit=""),
    "unknown venue": account(role="venue_admin", unit="", venue="NOPE"),
    "unknown role": account(role="king"),
    "disable yourself": lambda s: s.form_post("/accounts", "/accounts/admin/disable", {}),
    "disable no one": lambda s: s.form_post("/accounts", "/accounts/nobody/disable", {}),
    "who is inside at no time": lambda s: s.get("/venues/V1/inside?at=soon"),
    "who is inside no venue": lambda s: s.get("/venues/NOPE/inside"),
    "visit hosts too many": lambda s: s.form_post(
        "/venues/V1/rules", "/venues/V1/rules", {"visit_hosts": "\n".join(f"P{n}" for n in range(51))}
    ),
}


def person(server: CentralServer, lang: str, username: str | None = None) -> Staff:
    someone = Staff(server)
    someone.get(f"/login?lang={lang}")  # the language cookie, as the link on every page sets it
    if username is not None:
        assert someone.login(username).status_code == 303
    return someone


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_error_path_speaks_the_pages_language(server: CentralServer, lang: str):
    spoken: dict[str, list[str]] = {}
    for who, steps in ((None, ANONYMOUS), ("tracer", TRACER), ("admin", ADMIN)):
        staff = person(server, lang, who)
        for name, step in steps.items():
            answer = step(staff)
            assert answer.status_code >= 400 and answer.headers["content-type"].startswith("text/html"), name
            assert f'<html lang="{lang}">' in answer.text, name
            if wrong := wrong_language(answer.text, lang):
                spoken[name] = wrong
    assert spoken == {}


def test_too_many_sign_ins_are_refused_in_the_pages_language(server: CentralServer):
    visitor = person(server, "vi")
    for _ in range(6):
        answer = login("ghost")(visitor)
    assert answer.status_code == 429 and "Thử lại sau 15 phút" in answer.text
    assert wrong_language(answer.text, "vi") == []


def test_the_catalogue_has_every_message_in_both_languages():
    from central.web.messages import CATALOGUE

    for key, (vi, en) in CATALOGUE.items():
        assert vi.strip() and en.strip() and vi != en, key
        assert wrong_language(f"<p>{vi}</p>", "vi") == [] and wrong_language(f"<p>{en}</p>", "en") == [], key
