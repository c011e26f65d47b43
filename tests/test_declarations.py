"""Electronic health declarations at the centre (issue 7): the form, the status rule, the stored row, the sealed
phone, the pass key and the pass, down to a kiosk reading the pass's QR code and verifying it offline.

On SQLite, and on PostgreSQL too when $KIOSK_TEST_PG_URL is set (the `db_url` fixture).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import segno
from central_fixtures import SECRET
from click.testing import CliRunner, Result
from conftest import CCCD_AN, PCCOVID_AN
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, select

from central.audit import entries
from central.db import connect
from central.declarations import (
    MESSAGES,
    STATUS_RULES,
    SYMPTOMS,
    FormInvalid,
    Issued,
    contact_context,
    contact_public_key,
    open_contact,
    qr_png,
    qr_svg,
    set_contact_public_key,
    set_valid_hours,
    status_for,
    submit,
    valid_hours,
    validate_form,
)
from central.errors import CentralError, Conflict, NotFound
from central.lists import trust_list
from central.passkeys import PassKey, is_published, load_pass_key, publish
from central.schema import declarations, trust_entries
from central.sealing import SealError, open_sealed, read_private_key, seal, write_private_key
from kiosk.credentials import SubjectKeyer, read_credential
from kiosk.credentials.cccd import parse_cccd
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.pccovid import parse_pccovid
from kiosk.credentials.trust import TrustStore
from kiosk.decode.zbar import ZbarDecoder
from kiosk.decode.zxing import ZxingDecoder

NOW = datetime(2026, 11, 26, 7, 30, 15, 654321, tzinfo=UTC)  # microseconds: the pass keeps whole seconds
CCCD_NUMBER = CCCD_AN.split("|")[0]  # 001090012345, the person of tests/conftest.py
PHONE = "0912 345 678"
FORM: dict[str, Any] = {
    "identity_type": "cccd",
    "identity_number": CCCD_NUMBER,
    "phone": PHONE,
    "symptoms": ["none"],
    "contact_confirmed": False,
    "lockdown_area": False,
    "travel": "Hà Nội → Đà Lạt, 20/11",
    "language": "vi",
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pass_key(engine: Engine, tmp_path: Path) -> PassKey:
    key = load_pass_key(tmp_path / "keys" / "kiosk-central.pass-key")
    with engine.begin() as conn:
        publish(conn, key, NOW)
    return key


def declare(engine: Engine, key: PassKey, *, valid_h: int = 24, now: datetime = NOW, **answers: Any) -> Issued:
    form = validate_form(FORM | answers)
    with engine.begin() as conn:
        return submit(conn, form, secret=SECRET, pass_key=key.private, kid=key.kid, now=now, valid_h=valid_h)


def with_contact_key(engine: Engine) -> X25519PrivateKey:
    private = X25519PrivateKey.generate()
    with engine.begin() as conn:
        set_contact_public_key(conn, private.public_key())
    return private


# End to end: form -> pass -> QR (SVG and PNG) -> the kiosk's decoders -> `kiosk verify` with the centre's list.


def test_a_declaration_gives_a_pass_a_kiosk_reads_and_verifies(engine: Engine, pass_key: PassKey, tmp_path: Path):
    with_contact_key(engine)
    issued = declare(engine, pass_key, symptoms=["cough"])
    assert (issued.status, issued.contact_stored) == ("yellow", True)
    assert segno.make_qr(issued.pass_text, error="m").version <= 9  # docs/pass-format.md: version 9 at level M

    png = cv2.imdecode(np.frombuffer(qr_png(issued.pass_text), np.uint8), cv2.IMREAD_GRAYSCALE)
    svg = rasterised(qr_svg(issued.pass_text))
    for image in (png, svg):
        for decoder in (ZxingDecoder(), ZbarDecoder()):  # OpenCV's detector misses ~1 in 10 of these
            assert [code.text for code in decoder.read(image).codes] == [issued.pass_text], decoder.name

    trust_file = tmp_path / "trust-list.json"
    with engine.connect() as conn:
        trust_file.write_text(json.dumps(trust_list(conn, NOW)))
    report = kiosk_verify(issued.pass_text, trust_file, NOW + timedelta(hours=1))
    assert report["kind"] == "pass" and report["valid"], report
    assert report["checks"] == {"decode": "ok", "signature": "valid", "expiry": "ok"}
    assert report["details"]["status"] == "yellow" and report["subject"]["issuer"] == "VN"
    assert report["decision"] == {"mode": "pass", "outcome": "REVIEW", "reason": "pass-yellow"}  # the guard decides
    cccd, pccovid = parse_cccd(CCCD_AN), parse_pccovid(PCCOVID_AN)
    assert cccd is not None and cccd.identity is not None and pccovid is not None and pccovid.identity is not None
    keyer = SubjectKeyer(SECRET)
    assert report["subject"]["subject_key"] == keyer.key(cccd.identity) == keyer.key(pccovid.identity)
    assert report["subject"]["subject_key"] == issued.subject_key


def kiosk_verify(text: str, trust_file: Path, at: datetime) -> dict[str, Any]:
    command = [sys.executable, "-m", "kiosk", "verify", "--text", text, "--trust-list", str(trust_file)]
    done = subprocess.run(
        [*command, "--at", at.isoformat(), "--json"], capture_output=True, text=True, timeout=60, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def rasterised(svg: str, pixels_per_module: int = 6) -> np.ndarray:
    """What a browser draws of `qr_svg`'s output: its dark path is horizontal runs, 1 module high, centred on y."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    image = np.full((size, size), 255, np.uint8)
    path = re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    x = y = 0.0
    for command, args in re.findall(r"([MmHh])([-\d. ]+)", path):
        numbers = [float(n) for n in args.split()]
        if command in "Mm":
            x, y = (numbers[0], numbers[1]) if command == "M" else (x + numbers[0], y + numbers[1])
        else:
            end = numbers[0] if command == "H" else x + numbers[0]
            image[int(y - 0.5), int(min(x, end)) : int(max(x, end))] = 0
            x = end
    return np.kron(image, np.ones((pixels_per_module, pixels_per_module), np.uint8))


def test_the_svg_is_sized_for_a_phone_and_scales_down(pass_key: PassKey, engine: Engine):
    svg = qr_svg(declare(engine, pass_key).pass_text)
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert 300 <= width <= 420 and 'viewBox="0 0 ' in svg and "<script" not in svg


# The pass's validity, and what the row keeps.


def test_the_pass_expires_valid_h_after_the_declaration(engine: Engine, pass_key: PassKey):
    issued = declare(engine, pass_key, valid_h=6)
    assert issued.declared_at == NOW.replace(microsecond=0)
    assert issued.expires_at == issued.declared_at + timedelta(hours=6)
    with engine.connect() as conn:
        row = conn.execute(select(declarations).where(declarations.c.id == issued.declaration_id)).one()
        ctx = VerifyContext(TrustStore.from_json(trust_list(conn, NOW)), issued.expires_at)
    assert (row.declared_at.replace(tzinfo=UTC), row.expires_at.replace(tzinfo=UTC)) == (
        issued.declared_at,
        issued.expires_at,
    )
    assert read_credential(issued.pass_text, ctx).expiry == "ok"
    late = VerifyContext(ctx.trust, issued.expires_at + timedelta(seconds=1))
    assert read_credential(issued.pass_text, late).expiry == "expired"


def test_validity_comes_from_the_settings_and_is_bounded(engine: Engine, pass_key: PassKey):
    with engine.begin() as conn:
        assert valid_hours(conn) == 24
        set_valid_hours(conn, 12)
        assert valid_hours(conn) == 12
        with pytest.raises(CentralError):
            set_valid_hours(conn, 0)
    with pytest.raises(CentralError, match="1 to 168 hours"):
        declare(engine, pass_key, valid_h=169)


def test_the_row_keeps_no_id_number_and_no_phone_in_clear(engine: Engine, pass_key: PassKey, db_url: str):
    private = with_contact_key(engine)
    issued = declare(engine, pass_key, symptoms=["fever", "cough"], contact_confirmed=True)
    with engine.connect() as conn:
        row = conn.execute(select(declarations)).one()._mapping
    assert row["subject_key"] == issued.subject_key and row["status"] == "red"
    assert row["answers"] == {
        "symptoms": ["fever", "cough"],
        "contact_confirmed": True,
        "lockdown_area": False,
        "travel": FORM["travel"],
        "language": "vi",
    }
    dumped = json.dumps({k: v.hex() if isinstance(v, bytes) else str(v) for k, v in row.items()}, ensure_ascii=False)
    for secret in (CCCD_NUMBER, "912345678", "0912345678"):
        assert secret not in dumped
    phone = open_sealed(row["contact_sealed"], private, contact_context(issued.declaration_id))
    assert phone == b"+84912345678"
    if db_url.startswith("sqlite"):
        engine.dispose()
        files = Path(db_url.removeprefix("sqlite:///")).parent.glob("central.db*")
        raw = b"".join(path.read_bytes() for path in files)
        assert issued.subject_key.encode() in raw  # the right file was read
        for secret in (CCCD_NUMBER, "912345678"):
            assert secret.encode() not in raw


def test_without_a_contact_key_the_phone_is_not_kept(engine: Engine, pass_key: PassKey):
    with engine.connect() as conn:
        assert contact_public_key(conn) is None
    issued = declare(engine, pass_key)
    assert not issued.contact_stored
    with engine.begin() as conn:
        assert conn.execute(select(declarations.c.contact_sealed)).scalar_one() is None
        with pytest.raises(NotFound, match="no phone"):
            open_contact(conn, issued.declaration_id, X25519PrivateKey.generate(), actor="t", reason="r", now=NOW)


def test_opening_a_phone_is_audited(engine: Engine, pass_key: PassKey):
    private = with_contact_key(engine)
    issued = declare(engine, pass_key)
    with engine.begin() as conn:
        phone = open_contact(conn, issued.declaration_id, private, actor="cli:tracer", reason="case 42", now=NOW)
        (entry,) = entries(conn)
    assert phone == "+84912345678"
    assert (entry["action"], entry["subject"], entry["reason"]) == ("contact-open", issued.subject_key, "case 42")
    assert entry["detail"] == {"declaration": issued.declaration_id}


# The status rule.


@pytest.mark.parametrize(
    ("symptoms", "contact", "lockdown", "status"),
    [
        (["none"], False, False, "green"),
        (["fever"], False, False, "red"),
        (["shortness_of_breath"], False, False, "red"),
        (["none"], True, False, "red"),
        (["cough"], False, False, "yellow"),
        (["sore_throat"], False, False, "yellow"),
        (["loss_of_taste_smell"], False, False, "yellow"),
        (["fatigue"], False, False, "yellow"),
        (["none"], False, True, "yellow"),
        (["cough", "fatigue"], False, True, "yellow"),
        (["cough", "fever"], False, True, "red"),  # the worst answer wins
        (["fatigue"], True, False, "red"),
    ],
)
def test_status_rule(symptoms: list[str], contact: bool, lockdown: bool, status: str):
    form = validate_form(FORM | {"symptoms": symptoms, "contact_confirmed": contact, "lockdown_area": lockdown})
    assert status_for(form.flags()) == status


def test_every_symptom_and_exposure_has_a_rule():
    assert set(STATUS_RULES) == (set(SYMPTOMS) - {"none"}) | {"contact_confirmed", "lockdown_area"}
    assert status_for([]) == "green"


# The form: normalisation and errors per field, in both languages.


@pytest.mark.parametrize(
    ("kind", "typed", "doc_type", "number"),
    [
        ("cccd", "001 090 012 345", "VN-ID", CCCD_NUMBER),
        ("cccd", "００１０９００１２３４５", "VN-ID", CCCD_NUMBER),  # full-width digits from a phone keyboard
        ("cmnd", "123.456.789", "VN-CMND", "123456789"),
        ("cmnd", "001090012345", "VN-ID", CCCD_NUMBER),  # a 12-digit CMND is the personal ID number
        ("passport", "c1234567", "DOC", "C1234567"),  # as a PC-Covid code keys a passport number
    ],
)
def test_identity_is_normalised_as_the_kiosk_does(kind: str, typed: str, doc_type: str, number: str):
    form = validate_form(FORM | {"identity_type": kind, "identity_number": typed})
    assert (form.identity().doc_type, form.identity().number) == (doc_type, number)


@pytest.mark.parametrize("typed", ["0912345678", "+84 912 345 678", "84912345678", "0084912345678", "091-234-5678"])
def test_phone_is_normalised(typed: str):
    assert validate_form(FORM | {"phone": typed}).phone == "+84912345678"


def test_the_form_never_shows_the_number_or_phone_in_its_repr():
    text = repr(validate_form(FORM))
    assert CCCD_NUMBER not in text and "912345678" not in text


@pytest.mark.parametrize(
    ("answers", "field", "code"),
    [
        ({"identity_type": "driving-licence"}, "identity_type", "identity_type"),
        ({"identity_number": "00109001234"}, "identity_number", "cccd"),  # 11 digits
        ({"identity_number": "123456789"}, "identity_number", "cccd"),  # a CMND number given as a CCCD
        ({"identity_type": "cmnd", "identity_number": "12345"}, "identity_number", "cmnd"),
        ({"identity_type": "passport", "identity_number": "C12"}, "identity_number", "passport"),
        ({"phone": "0212345678"}, "phone", "phone"),  # a landline prefix
        ({"phone": "091234567"}, "phone", "phone"),  # 9 digits
        ({"phone": "+1 650 555 0100"}, "phone", "phone"),
        ({"symptoms": []}, "symptoms", "symptoms_empty"),
        ({"symptoms": ["none", "fever"]}, "symptoms", "symptoms_none"),
        ({"symptoms": ["headache"]}, "symptoms", "choice"),
        ({"contact_confirmed": "maybe"}, "contact_confirmed", "yes_no"),
        ({"lockdown_area": None}, "lockdown_area", "yes_no"),
        ({"travel": "x" * 201}, "travel", "too_long"),
        ({"travel": "ok\x00"}, "travel", "not_text"),
        ({"language": "fr"}, "language", "choice"),
        ({"name": "Nguyễn Văn An"}, "name", "unknown_field"),  # the name is not collected at all
    ],
)
def test_each_wrong_answer_has_its_message_in_both_languages(answers: dict[str, Any], field: str, code: str):
    with pytest.raises(FormInvalid) as caught:
        validate_form(FORM | answers)
    assert caught.value.codes == {field: code}
    vi, en = caught.value.messages("vi")[field], caught.value.messages("en")[field]
    assert (vi, en) == MESSAGES[code] and vi != en


def test_missing_answers_are_reported_field_by_field():
    with pytest.raises(FormInvalid) as caught:
        validate_form({"identity_type": "cccd", "language": "en"})
    assert caught.value.codes == dict.fromkeys(
        ("identity_number", "phone", "symptoms", "contact_confirmed", "lockdown_area"), "required"
    )
    assert caught.value.messages("en")["phone"] == "Please answer this question."


def test_form_posts_are_accepted_as_a_browser_sends_them():
    form = validate_form(FORM | {"symptoms": "fatigue", "contact_confirmed": "no", "lockdown_area": "on"})
    assert (form.symptoms, form.contact_confirmed, form.lockdown_area) == (("fatigue",), False, True)
    assert validate_form(FORM | {"symptoms": ["fever", "cough", "fever"]}).symptoms == ("fever", "cough")
    assert validate_form(FORM | {"travel": "  Huế\n  Đà Nẵng "}).travel == "Huế Đà Nẵng"


# Sealing.


def test_sealing_round_trip_and_tamper_detection():
    private = X25519PrivateKey.generate()
    box = seal(b"+84912345678", private.public_key(), b"declaration-contact:1")
    assert open_sealed(box, private, b"declaration-contact:1") == b"+84912345678"
    assert b"912345678" not in box and len(box) == 32 + 12 + 16  # HPKE: enc, ciphertext, tag
    assert seal(b"+84912345678", private.public_key(), b"c") != seal(b"+84912345678", private.public_key(), b"c")
    for position in (0, 31, 32, 43, 44, len(box) - 1):  # ephemeral key, ciphertext, tag
        altered = bytearray(box)
        altered[position] ^= 0x01
        with pytest.raises(SealError):
            open_sealed(bytes(altered), private, b"declaration-contact:1")
    with pytest.raises(SealError):
        open_sealed(box, private, b"declaration-contact:2")  # copied onto another declaration
    with pytest.raises(SealError):
        open_sealed(box, X25519PrivateKey.generate(), b"declaration-contact:1")
    with pytest.raises(SealError):
        open_sealed(box[:59], private, b"declaration-contact:1")


def test_the_contact_private_key_file(tmp_path: Path):
    path = tmp_path / "contact.key"
    key = write_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_private_key(path).private_bytes_raw() == key.private_bytes_raw()
    with pytest.raises(CentralError, match="exists already"):
        write_private_key(path)


# The pass key.


def test_the_pass_key_file_is_private_and_stable(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "state" / "kiosk-central.pass-key"
    key = load_pass_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and "back it up" in caplog.text
    again = load_pass_key(path)
    assert (again.kid, again.public_raw) == (key.kid, key.public_raw) and len(key.kid) == 8


def test_publishing_is_idempotent_and_needed_before_issuing(engine: Engine, tmp_path: Path):
    key = load_pass_key(tmp_path / "pass.key")
    with pytest.raises(CentralError, match="pass-key publish"):
        declare(engine, key)
    with engine.begin() as conn:
        assert not is_published(conn, key)
        assert publish(conn, key, NOW) is True
        assert publish(conn, key, NOW) is False
        assert is_published(conn, key)
        rows = conn.execute(select(trust_entries.c.section, trust_entries.c.entry)).all()
        assert [(row.section, row.entry) for row in rows] == [("pass_keys", key.entry())]
        assert TrustStore.from_json(trust_list(conn, NOW)).pass_keys[key.kid] is not None
        impostor = PassKey(load_pass_key(tmp_path / "other.key").private, b"\x00" * 32, key.kid)
        with pytest.raises(Conflict):
            publish(conn, impostor, NOW)
    assert declare(engine, key).status == "green"


# The command line.


def test_the_command_line(engine: Engine, db_url: str, tmp_path: Path):
    """In process with click's runner (a subprocess each would take half a second); test_central_cli.py runs the
    entry point itself."""
    from central.cli import cli

    secret_file = tmp_path / "central.secret"
    secret_file.write_text(SECRET.hex())
    unset = dict.fromkeys((k for k in os.environ if k.startswith("KIOSK_CENTRAL_")), None)

    def central(*args: str) -> Result:
        command = ["--db", db_url, "--secret-file", str(secret_file), *args]
        return CliRunner().invoke(cli, command, env=unset, catch_exceptions=False)

    shown = central("pass-key", "show", "--json")
    assert shown.exit_code == 0, shown.stderr
    info = json.loads(shown.stdout)
    assert info["published"] is False and Path(info["file"]) == tmp_path / "kiosk-central.pass-key"
    assert "published" in central("pass-key", "publish").stdout
    assert "already" in central("pass-key", "publish").stdout
    key = load_pass_key(tmp_path / "kiosk-central.pass-key")
    assert info["kid"] == key.entry()["kid"]

    contact_file = str(tmp_path / "contact.key")
    assert central("contact-key", "init", "--private-out", contact_file).exit_code == 0
    assert (tmp_path / "contact.key").stat().st_mode & 0o777 == 0o600
    refused = central("contact-key", "init", "--private-out", str(tmp_path / "other.key"))
    assert refused.exit_code == 1 and "--replace" in refused.stderr
    settings = central("declaration-settings", "--valid-h", "12", "--issuer", "VN-67")
    assert "valid 12 h, issuer VN-67" in settings.stdout and "sealed" in settings.stdout

    issued = declare(engine, key)
    open_args = ("contact-key", "open", "--private-key", contact_file, "--declaration", issued.declaration_id)
    assert central(*open_args).exit_code == 2  # --reason is required
    opened = central(*open_args, "--reason", "case 42")
    assert (opened.exit_code, opened.stdout) == (0, "+84912345678\n"), opened.stderr
    with engine.connect() as conn:
        assert [e["action"] for e in entries(conn)] == ["contact-open", "contact-key-set"]
        assert valid_hours(conn) == 12


def test_a_person_on_the_status_list_gets_at_least_that_colour(engine: Engine, pass_key: PassKey):
    from central.lists import set_status

    subject = SubjectKeyer(SECRET).key(validate_form(FORM).identity())
    with engine.begin() as conn:
        set_status(conn, subject, "red", NOW + timedelta(days=3), NOW)
    assert declare(engine, pass_key).status == "red"  # answers all green; the health service said red
    with engine.begin() as conn:
        set_status(conn, subject, "yellow", NOW - timedelta(hours=1), NOW - timedelta(days=2))
    assert declare(engine, pass_key).status == "green"  # listed until an hour ago: over
