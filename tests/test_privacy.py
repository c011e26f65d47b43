"""Privacy, proved on disk and on the wire (issue 8; PRIVACY.md): one person's codes shown at a real kiosk and a
health declaration made on the centre's form, then every file of both sides, every request the kiosk sent and,
on PostgreSQL, every table's text are searched for what identifies that person.

The person has a chip ID card (CCCD), a PC-Covid code, an EU DCC (HC1) and the centre's pass (HD1) from the
declaration. The kiosk (`kiosk run`, a subprocess, as on a gate, logging at DEBUG) reads them from an image folder
and uploads through a recording proxy to a real central server on loopback. What must be found nowhere: the raw
QR texts, the ID numbers, the name (NFC and NFD, upper and lower case, without accents, JSON-escaped,
URL-encoded), the birth date, the address, the certificate id, the phone numbers. What must be found: the
person's subject key, the same on the kiosk's events and on the declaration (tracing works without identity), and
the phone, sealed, opening with the tracing authority's private key only.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pytest
from central_fixtures import SECRET, CentralServer, setup_venue
from conftest import on_canvas, qr_image, write_images
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from dccmaker import VN_VACCINATION, make_hc1, make_signer
from faultproxy import FaultProxy, Record
from sqlalchemy import Engine, select, text
from web_helpers import Staff, csrf_of

from central.declarations import contact_context, set_contact_public_key
from central.passkeys import load_pass_key
from central.schema import declarations, events, metadata
from central.sealing import SealError, open_sealed
from kiosk.credentials import Identity, SubjectKeyer
from kiosk.decode.zxing import ZxingDecoder

ID_NUMBER = "079203004567"
OLD_ID = "245678912"
NAME = "Lê Thị Thu Hằng"
ASCII_NAME = "LE THI THU HANG"
BIRTH = ("23071985", "1985-07-23")
ADDRESS = "Số 7 Đường Trần Phú, Phường 4, Đà Lạt"
PHONE_ON_CODE = "0987654321"
PHONE_DECLARED = "0978123456"
UVCI = "URN:UVCI:01:VN:PRIV0001"
CCCD = f"{ID_NUMBER}|{OLD_ID}|{NAME}|{BIRTH[0]}|Nữ|{ADDRESS}|15082021"
PCCOVID = f"{ID_NUMBER}|{ASCII_NAME}|{BIRTH[1]}|0|Q9876543210ZYXWV|<1<{PHONE_ON_CODE}<"
DCC = {
    **VN_VACCINATION,
    "nam": {"fn": "Lê", "gn": "Thị Thu Hằng", "fnt": "LE", "gnt": "THI<THU<HANG"},
    "dob": BIRTH[1],
    "v": [{**VN_VACCINATION["v"][0], "ci": UVCI}],
}
KIOSK_CONFIG = """
[camera]
realtime = false
fps = 30
[decode]
decoders = ["zxing"]
[policy]
mode = "log-only"
[status_page]
enabled = false
[log]
level = "DEBUG"
[sync]
poll_s = 0.1
"""


def variants(value: str) -> set[str]:
    """The forms in which `value` might be kept: NFC, NFD, upper, lower, accents dropped, JSON- and URL-escaped."""
    forms = {unicodedata.normalize(form, value) for form in ("NFC", "NFD", "NFKC", "NFKD")}
    forms |= {f.upper() for f in forms} | {f.lower() for f in forms}
    plain = "".join(c for c in unicodedata.normalize("NFD", value) if not unicodedata.combining(c))
    forms |= {plain, plain.upper(), plain.lower(), plain.replace("Đ", "D").replace("đ", "d")}
    forms |= {json.dumps(f)[1:-1] for f in list(forms)} | {quote(f) for f in list(forms)}
    return forms


def phone_forms(phone: str) -> set[str]:
    national = phone[1:]
    return {phone, national, "+84" + national, "84" + national, f"{phone[:4]} {phone[4:7]} {phone[7:]}"}


def secrets_of(codes: list[str]) -> set[bytes]:
    """Every needle, as bytes (UTF-8)."""
    needles = set(codes) | {ID_NUMBER, OLD_ID, UVCI, *BIRTH, "Q9876543210ZYXWV", "THI<THU<HANG"}
    needles |= variants(NAME) | variants(ADDRESS) | variants("Thị Thu Hằng") | variants("Trần Phú")
    needles |= phone_forms(PHONE_ON_CODE) | phone_forms(PHONE_DECLARED)
    return {n.encode() for n in needles}


def found(haystack: bytes, needles: set[bytes]) -> list[str]:
    lowered = haystack.lower()
    return sorted(n.decode() for n in needles if n in haystack or n.lower() in lowered)


def files_under(*places: Path) -> dict[Path, bytes]:
    """Every file in `places` (files, or folders searched all the way down), with its bytes."""
    paths = [p for place in places for p in ([place] if place.is_file() else sorted(place.rglob("*")))]
    return {p: p.read_bytes() for p in paths if p.is_file()}


def on_the_wire(records: list[Record]) -> dict[str, bytes]:
    """Each request the kiosk sent: its request line and body (gunzipped)."""
    sent = {}
    for n, record in enumerate(records):
        body = gzip.decompress(record.body) if record.body[:2] == b"\x1f\x8b" else record.body
        sent[f"#{n} {record.method} {record.path}"] = record.path.encode() + b"\n" + body
    return sent


def postgres_text(engine: Engine) -> bytes:
    """Every row of every table as PostgreSQL renders it in text (bytea as hex), partitions through their parent."""
    with engine.connect() as conn:
        rows = [
            str(value)
            for table in metadata.sorted_tables
            for value in conn.execute(text(f"SELECT CAST(t AS text) FROM {table.name} t")).scalars()
        ]
    return "\n".join(rows).encode()


@pytest.fixture
def centre_logs(tmp_path: Path) -> Iterator[Path]:
    """What the centre logs at INFO, to a file in its folder (SQL statement logging off, as deployed)."""
    path = tmp_path / "centre" / "central.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    root, quiet = logging.getLogger(), logging.getLogger("sqlalchemy")
    levels = root.level, quiet.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet.setLevel(logging.WARNING)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        quiet.setLevel(levels[1])


def kiosk(*args: str, tmp_path: Path, log: Path) -> None:
    command = [sys.executable, "-m", "kiosk", *args, "--config", str(tmp_path / "kiosk.toml")]
    command += ["--state-dir", str(tmp_path / "state")]
    with log.open("ab") as out:
        done = subprocess.run(command, stdout=out, stderr=out, timeout=60)
    assert done.returncode == 0, log.read_text(encoding="utf-8", errors="replace")[-3000:]


def declare(server: CentralServer) -> str:
    """A declaration through the centre's web form, as a phone's browser sends it; the pass from its PNG."""
    person = Staff(server)
    page = person.get("/declare?lang=vi")
    answers = {"identity_type": "cccd", "identity_number": ID_NUMBER, "phone": PHONE_DECLARED, "symptoms": "none"}
    answers |= {"contact_confirmed": "no", "lockdown_area": "no", "travel": "Đà Lạt", "csrf": csrf_of(page.text)}
    answer = person.post("/declare?lang=vi", answers)
    assert answer.status_code == 200, answer.text
    png = re.search(r'href="data:image/png;base64,([^"]+)"', answer.text)
    assert png, "no pass in the answer"
    image = cv2.imdecode(np.frombuffer(base64.b64decode(png.group(1)), np.uint8), cv2.IMREAD_GRAYSCALE)
    (code,) = ZxingDecoder().read(image).codes
    assert code.text.startswith("HD1:")
    return code.text


def frames(codes: list[str]) -> list[np.ndarray]:
    """Each code once, with empty frames between: four passages."""
    blank = np.full((480, 640), 128, dtype=np.uint8)
    shown = []
    for code in codes:
        shown += [on_canvas(qr_image(code, scale=3), at=(20, 20)), blank, blank]
    return shown


def test_no_identity_on_disk_or_on_the_wire_and_the_phone_sealed(db_url: str, tmp_path: Path, centre_logs: Path):
    authority = X25519PrivateKey.generate()  # the tracing authority's key: never on the centre's disk
    pass_key = load_pass_key(tmp_path / "centre" / "pass.key", announce=False)
    (tmp_path / "kiosk.toml").write_text(KIOSK_CONFIG, encoding="utf-8")
    log = tmp_path / "state" / "kiosk.log"
    log.parent.mkdir()
    with CentralServer(db_url, pass_key=pass_key, access_log=True) as server, FaultProxy(server.url) as proxy:
        with server.engine.begin() as conn:
            set_contact_public_key(conn, authority.public_key())
        code = setup_venue(server.engine, "GATE-1", now=server.clock())
        hd1 = declare(server)
        codes = [CCCD, PCCOVID, make_hc1(make_signer(), DCC), hd1]
        folder = write_images(tmp_path / "frames", frames(codes))

        kiosk("enroll", "--server", proxy.url, "--code", code, tmp_path=tmp_path, log=log)
        kiosk("run", "--source", str(folder), "--until-end", tmp_path=tmp_path, log=log)
        kiosk("sync", "--once", tmp_path=tmp_path, log=log)

        with server.engine.connect() as conn:
            held = conn.execute(select(events.c.kind, events.c.subject_key)).all()
            declared = conn.execute(
                select(declarations.c.id, declarations.c.subject_key, declarations.c.contact_sealed)
            ).one()
        dump = postgres_text(server.engine) if server.engine.dialect.name == "postgresql" else b""
        wire = on_the_wire(proxy.records())
    centre_files = files_under(tmp_path / "centre", *(tmp_path.glob("central.db*")))

    # The positive controls: the person passed four times, is keyed the same on both sides, and was searched for
    # where the data are.
    person = SubjectKeyer(SECRET).key(Identity("VN-ID", ID_NUMBER))
    assert len(held) == 4, held
    assert {key for kind, key in held if kind in ("cccd", "pc-covid", "pass")} == {person}, held
    assert declared.subject_key == person
    uploads = b"".join(body for line, body in wire.items() if "/events" in line)
    assert person.encode() in uploads
    kiosk_files = files_under(tmp_path / "state")
    assert any(p.name == "events.db" for p in kiosk_files)
    assert any(p.name.startswith("central.db") for p in centre_files) == (not dump)
    assert b"DEBUG" in kiosk_files[log]
    access = centre_files[centre_logs]  # uvicorn's access lines are searched too: the form and the uploads were logged
    assert b'"POST /declare' in access and b'"POST /api/v1/events HTTP/1.1" 200' in access, access[-2000:]

    needles = secrets_of(codes)
    leaks = {str(p): found(data, needles) for p, data in {**kiosk_files, **centre_files}.items()}
    leaks |= {line: found(body, needles) for line, body in wire.items()}
    if dump:
        assert person.encode() in dump
        leaks["postgresql tables"] = found(dump, needles)
    print(
        f"\nsearched {len(needles)} forms of the person's data in {len(kiosk_files) + len(centre_files)} files,"
        f" {len(wire)} requests{' and the PostgreSQL tables' if dump else ''}: {sum(map(len, leaks.values()))} found"
    )
    assert {where: what for where, what in leaks.items() if what} == {}

    # The phone: sealed to the authority's key, and nothing on the centre opens it.
    sealed = bytes(declared.contact_sealed)
    context = contact_context(declared.id)
    assert open_sealed(sealed, authority, context) == b"+84978123456"
    with pytest.raises(SealError):
        open_sealed(sealed, X25519PrivateKey.generate(), context)
    authority_raw = authority.private_bytes_raw()
    assert all(authority_raw not in data for data in centre_files.values())
