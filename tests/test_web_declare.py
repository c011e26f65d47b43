"""The public declaration form over HTTP: field errors in both languages, a pass that a kiosk verifies, and
nothing accepted without the form's own token. (tests/test_browser.py drives the same form in Chromium.)"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from central_fixtures import SECRET, CentralServer
from conftest import CCCD_AN
from sqlalchemy import select
from web_helpers import Staff, csrf_of

from central.passkeys import PassKey, load_pass_key
from central.schema import declarations
from kiosk.credentials import Identity, SubjectKeyer
from kiosk.decode.zxing import ZxingDecoder

CCCD_NUMBER = CCCD_AN.split("|")[0]
ANSWERS = {
    "identity_type": "cccd",
    "identity_number": CCCD_NUMBER,
    "phone": "0912345678",
    "symptoms": "none",
    "contact_confirmed": "no",
    "lockdown_area": "no",
    "travel": "Đà Lạt",
}


@pytest.fixture
def pass_key(tmp_path: Path) -> PassKey:
    return load_pass_key(tmp_path / "pass.key")


@pytest.fixture
def server(db_url: str, pass_key: PassKey) -> Iterator[CentralServer]:
    with CentralServer(db_url, pass_key=pass_key) as central:
        yield central


def declare(person: Staff, answers: dict[str, str], lang: str = "vi") -> str:
    page = person.get(f"/declare?lang={lang}")
    answer = person.post(f"/declare?lang={lang}", {**answers, "csrf": csrf_of(page.text)})
    return f"{answer.status_code} {answer.text}"


def test_a_declaration_gives_a_pass_that_decodes_to_the_persons_key(server: CentralServer):
    result = declare(Staff(server), ANSWERS)
    assert result.startswith("200 ") and "Xanh" in result
    png = re.search(r'href="data:image/png;base64,([^"]+)"', result)
    assert png, "no PNG to download"
    image = cv2.imdecode(np.frombuffer(base64.b64decode(png.group(1)), np.uint8), cv2.IMREAD_GRAYSCALE)
    (code,) = ZxingDecoder().read(image).codes
    assert code.text.startswith("HD1:")
    with server.engine.connect() as conn:
        (row,) = conn.execute(select(declarations)).all()
    assert row.subject_key == SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_NUMBER)) and row.status == "green"
    assert CCCD_NUMBER not in str(row._mapping) and "0912345678" not in str(row._mapping)


def test_wrong_answers_are_shown_beside_their_fields_in_the_visitors_language(server: CentralServer):
    wrong = {**ANSWERS, "identity_number": "12345", "phone": "12", "symptoms": "none"}
    wrong.pop("lockdown_area")
    vi = declare(Staff(server), wrong)
    assert vi.startswith("422 ") and "Số CCCD gồm đúng 12 chữ số." in vi and 'aria-invalid="true"' in vi
    assert 'id="lockdown_area-error"' in vi and 'value="12345"' in vi  # the answers stay in the form
    en = declare(Staff(server), wrong, lang="en")
    assert "A CCCD number has exactly 12 digits." in en and "Please answer this question." in en
    with server.engine.connect() as conn:
        assert conn.execute(select(declarations)).all() == []


def test_a_symptom_gives_a_red_or_yellow_pass(server: CentralServer):
    assert "Đỏ" in declare(Staff(server), {**ANSWERS, "symptoms": "fever"})
    assert "Vàng" in declare(Staff(server), {**ANSWERS, "lockdown_area": "yes"})


def test_a_post_without_the_forms_own_token_is_refused(server: CentralServer):
    person = Staff(server)
    token = csrf_of(Staff(server).get("/declare").text)  # someone else's form
    person.get("/declare")
    assert person.post("/declare", {**ANSWERS, "csrf": token}).status_code == 403
    assert person.post("/declare", ANSWERS).status_code == 403


def test_without_a_pass_key_the_form_says_so(db_url: str):
    with CentralServer(db_url) as server:
        page = Staff(server).get("/declare")
        assert "chưa bật chức năng cấp mã" in page.text
        assert declare(Staff(server), ANSWERS).startswith("503 ")


def error_summary(page: str) -> list[str]:
    summary = page.split('id="form-errors"')[1].split("</div>")[0]
    return [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]


def test_the_error_summary_names_each_field(server: CentralServer):
    """Issue 12, item 5: an empty form listed "Vui lòng trả lời mục này." four times, naming no field."""
    items = error_summary(declare(Staff(server), {"identity_type": "cccd"}))  # as a browser sends it
    assert len(items) == 5 and len(set(items)) == len(items), items
    assert "Số giấy tờ: Vui lòng trả lời mục này." in items
    assert "Số điện thoại di động: Vui lòng trả lời mục này." in items
    english = error_summary(declare(Staff(server), {"identity_type": "cccd"}, lang="en"))
    assert "Mobile phone number: Please answer this question." in english


def test_the_form_and_the_pass_say_the_same_about_the_phone(server: CentralServer):
    """Issue 12, item 6: without a contact key, the form promised the phone kept sealed and the pass said that
    it was not kept. Each page now says what happens to it, and both say the same."""
    from test_declarations import with_contact_key

    discarded = "Số điện thoại của bạn không được lưu"
    sealed = "Số điện thoại chỉ được lưu dưới dạng mã hoá"
    form, issued = Staff(server).get("/declare").text, declare(Staff(server), ANSWERS)
    assert discarded in form and discarded in issued
    assert sealed not in form and sealed not in issued
    with_contact_key(server.engine)
    form, issued = Staff(server).get("/declare").text, declare(Staff(server), ANSWERS)
    assert sealed in form and sealed in issued
    assert discarded not in form and discarded not in issued
