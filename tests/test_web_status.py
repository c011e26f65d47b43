"""The status list's staff page over HTTP: a tracer flags a person by ID number or QR code, a kiosk's config
then carries the change, and every change is audited; other roles cannot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from central_fixtures import SECRET, CentralServer, FakeClock, add_unit
from conftest import CCCD_AN, PCCOVID_AN
from sqlalchemy import select
from web_helpers import Staff, add_account

from central.lists import status_list
from central.schema import audit_log
from kiosk.credentials import Identity, SubjectKeyer

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 10:00 in Hanoi
KEY = SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_AN.split("|")[0]))


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW)) as central:
        add_unit(central.engine, "HN", "Hà Nội")
        add_account(central, "tracer", "tracer", unit="HN")
        add_account(central, "officer", "unit_officer", unit="HN")
        yield central


def entries(server: CentralServer) -> dict[str, tuple[str, str | None]]:
    with server.engine.connect() as conn:
        listed = status_list(conn, NOW)["entries"]
    return {e["subject_key"]: (e["status"], e.get("until")) for e in listed}


def test_a_tracer_flags_by_id_number_until_the_end_of_a_local_day(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    form = {"identity_number": CCCD_AN.split("|")[0], "status": "red", "until": "2026-12-10", "reason": "F1 case 12"}
    assert tracer.form_post("/status-list", "/status-list", form).status_code == 303
    status, until = entries(server)[KEY]
    assert status == "red" and datetime.fromisoformat(until) == datetime(2026, 12, 10, 17, 0, tzinfo=UTC)
    page = tracer.get("/status-list")
    assert KEY in page.text and CCCD_AN.split("|")[0] not in page.text  # the key shown, never the number
    assert "hết ngày 10/12/2026" in page.text and "11/12/2026 00:00" not in page.text  # the day given, not its end
    assert "end of 10 Dec 2026" in tracer.get("/status-list?lang=en").text
    with server.engine.connect() as conn:
        (row,) = conn.execute(select(audit_log)).all()
    assert (row.actor, row.action, row.subject, row.reason) == ("tracer", "status-set", KEY, "F1 case 12")


def test_a_qr_code_names_the_same_person_and_clearing_is_audited(server: CentralServer):
    tracer = Staff(server)
    tracer.login("tracer")
    form = {"qr_text": PCCOVID_AN, "status": "yellow", "until": "2026-11-30", "reason": "contact"}
    assert tracer.form_post("/status-list", "/status-list", form).status_code == 303
    assert entries(server)[KEY][0] == "yellow"
    cleared = tracer.form_post("/status-list", "/status-list/clear", {"subject_key": KEY, "reason": "negative test"})
    assert cleared.status_code == 303 and KEY not in entries(server)
    with server.engine.connect() as conn:
        assert [r.action for r in conn.execute(select(audit_log).order_by(audit_log.c.id))] == [
            "status-set",
            "status-clear",
        ]


@pytest.mark.parametrize(
    ("form", "says"),
    [
        (
            {"identity_number": "123", "status": "red", "until": "2026-12-01", "reason": "x"},
            "Số định danh không hợp lệ",
        ),
        (
            {"identity_number": "001090012345", "status": "blue", "until": "2026-12-01", "reason": "x"},
            "Chọn Đỏ hoặc Vàng",
        ),
        ({"identity_number": "001090012345", "status": "red", "until": "2027-06-01", "reason": "x"}, "đến 90 ngày tới"),
        ({"identity_number": "001090012345", "status": "red", "until": "2026-12-01", "reason": " "}, "Ghi lý do"),
        (
            {"qr_text": "https://example.vn/menu", "status": "red", "until": "2026-12-01", "reason": "x"},
            "không chứa thông tin định danh",
        ),
        ({"status": "red", "until": "2026-12-01", "reason": "x"}, "Nhập đúng một trong các mục"),
    ],
)
def test_a_wrong_form_says_what_is_wrong_and_changes_nothing(server: CentralServer, form: dict[str, str], says: str):
    tracer = Staff(server)
    tracer.login("tracer")
    answer = tracer.form_post("/status-list", "/status-list", form)
    assert answer.status_code == 422 and says in answer.text
    assert entries(server) == {}


def test_other_roles_cannot_touch_the_list(server: CentralServer):
    officer = Staff(server)
    officer.login("officer")
    assert officer.get("/status-list").status_code == 403
    assert officer.post("/status-list", {"identity_number": "001090012345", "status": "red"}).status_code == 403
    assert Staff(server).get("/status-list").status_code == 303
