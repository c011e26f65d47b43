"""The tracing page over HTTP, on the hand-built scenario of tests/test_tracing.py: the tracer sees the same
visits and ranked contacts as the command line, as a page or as CSV, each trace audited; a tracer scoped to a
unit sees only that unit's venues; other roles see nothing."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from central_fixtures import CentralServer, FakeClock
from sqlalchemy import select, update
from test_tracing import CONTACTS, P_NUMBER, P, add_scenario
from web_helpers import Staff, add_account, wrong_language

from central.admin import add_unit, unit_id
from central.schema import audit_log, venues
from central.timeutil import utcnow

WINDOW = {"start": "2026-03-02T00:00", "end": "2026-03-07T00:00"}


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock()) as central:
        add_scenario(central.engine)
        with central.engine.begin() as conn:  # the factory F moves to a district of its own
            add_unit(conn, "HN-BD", "Ba Đình", "HN", utcnow())
            conn.execute(update(venues).where(venues.c.code == "F").values(unit_id=unit_id(conn, "HN-BD")))
        add_account(central, "tracer", "tracer", unit="HN")
        add_account(central, "badinh", "tracer", unit="HN-BD")
        add_account(central, "officer", "unit_officer", unit="HN")
        yield central


def trace(person: Staff, **fields: str) -> str:
    form = {"identity_number": P_NUMBER, "reason": "F0 case 2026-031", **WINDOW, **fields}
    answer = person.form_post("/trace", "/trace", form)
    return f"{answer.status_code} {answer.text}"


def contacts_on(page: str) -> list[tuple[str, str, int]]:
    table = page.split('id="contacts"')[1]
    rows = re.findall(r'<td class="mono">([0-9a-f]{32})</td><td>.*?<span class="note">(\w+)</span></td>\s*'
                      r'<td class="num">(\d+)</td>', table, re.S)  # fmt: skip
    return [(key, venue, int(minutes)) for key, venue, minutes in rows]


def test_the_page_shows_the_ranked_contacts_and_the_trace_is_audited(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    page = trace(tracer)
    assert page.startswith("200 ") and P in page
    assert contacts_on(page) == [(k, v, m) for k, v, m in CONTACTS]
    assert page.count("(ước tính)") == 1  # the visit to M on day 5 has no exit
    with server.engine.connect() as conn:
        (row,) = conn.execute(select(audit_log)).all()
    assert (row.actor, row.action, row.subject, row.reason) == ("tracer", "trace", P, "F0 case 2026-031")
    assert row.detail["contacts"] == len(CONTACTS) and row.address == "127.0.0.1"


def test_the_csv_is_the_same_trace(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    answer = tracer.form_post(
        "/trace", "/trace", {"identity_number": P_NUMBER, "reason": "r", "output": "csv", **WINDOW}
    )
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    contacts = [
        (r["subject_key"], r["venue"], round(float(r["overlap_minutes"]))) for r in rows if r["record"] == "contact"
    ]
    assert contacts == [(k, v, m) for k, v, m in CONTACTS]


def test_a_tracer_of_a_district_sees_its_venues_only(server: CentralServer):
    district = Staff(server)
    district.login("badinh")
    page = trace(district)
    assert {venue for _, venue, _ in contacts_on(page)} == {"F"}


def test_no_reason_no_trace(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    refused = trace(tracer, reason=" ")
    assert refused.startswith("422 ") and "Ghi lý do truy vết" in refused
    with server.engine.connect() as conn:
        assert conn.execute(select(audit_log)).all() == []


def test_an_id_number_of_five_digits_is_answered_in_the_pages_language(server: CentralServer):
    """Issue 12, item 5: the page said "the identity number is not a 12-digit ID..." on a Vietnamese page."""
    tracer = Staff(server)
    tracer.login("tracer")
    vi = trace(tracer, identity_number="12345")
    assert vi.startswith("422 ") and "Số định danh không hợp lệ" in vi
    assert wrong_language(vi, "vi") == []
    tracer.get("/trace?lang=en")
    en = trace(tracer, identity_number="12345")
    assert en.startswith("422 ") and "This is not an ID number" in en
    assert wrong_language(en, "en") == []


def test_only_tracers_trace(server: CentralServer):
    officer = Staff(server)
    officer.login("officer")
    assert officer.get("/trace").status_code == 403
    assert Staff(server).get("/trace").status_code == 303
