"""Bulk set-up (issue 17, docs/rollout.md section 1): units.csv and venues.csv imported all or nothing, safe to
re-run, fast enough for a province; enrolment sheets whose every code enrols one kiosk, and only until it expires.

On SQLite, and on PostgreSQL too when $KIOSK_TEST_PG_URL is set (the `db_url` fixture).
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from central_fixtures import CentralServer
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func, select, update

from central.admin import list_units, make_enroll_code
from central.bulk.render import render_sheet
from central.bulk.sheet import Sheet, make_sheet
from central.bulk.units import import_units
from central.bulk.venues import import_venues
from central.cli import cli as central_cli
from central.db import connect
from central.devices import enroll
from central.errors import CentralError, Denied
from central.people.csvfile import ImportRefused
from central.schema import audit_log, devices, enroll_codes, units, venues
from kiosk.cli import cli as kiosk_cli
from kiosk.cli import enrolment_target
from kiosk.decode.zxing import ZxingDecoder

DOCS = Path(__file__).parent.parent / "docs" / "rollout.md"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
SERVER = "https://central.example.vn"
UNITS = "code,name,parent\n67,Tỉnh Đắk Nông,\n660,Thành phố Gia Nghĩa,67\n24611,Phường Nghĩa Thành,660\n"
VENUES = (
    "code,name,unit,category,address\n"
    'DN-001,Bệnh viện đa khoa tỉnh,24611,hospital,"Đường Tôn Đức Thắng, Nghĩa Thành"\n'
    "DN-002,Chợ Gia Nghĩa,24611,market,\n"
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def units_csv(engine: Engine, text: str | bytes) -> Any:
    with engine.begin() as conn:
        data = text.encode() if isinstance(text, str) else text
        return import_units(conn, data, actor="cli:test", now=NOW)


def venues_csv(engine: Engine, text: str | bytes) -> Any:
    with engine.begin() as conn:
        data = text.encode() if isinstance(text, str) else text
        return import_venues(conn, data, actor="cli:test", now=NOW)


def counts(engine: Engine) -> tuple[int, ...]:
    with engine.begin() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (units, venues, audit_log, enroll_codes)
        )


def unit_parent(engine: Engine, code: str) -> str | None:
    with engine.begin() as conn:
        parent = units.alias("parent")
        query = select(parent.c.code).select_from(units.outerjoin(parent, parent.c.id == units.c.parent_id))
        return conn.execute(query.where(units.c.code == code)).scalar()


def province(communes_per_district: int = 10, venues_per_commune: int = 50) -> tuple[str, str]:
    """A province's units.csv (1 province, 10 districts, their communes) and venues.csv, children before parents
    (order must not matter), with the statistics office's code lengths."""
    unit_rows, venue_rows = [], []
    for district in range(10):
        district_code = f"{660 + district:03d}"
        for commune in range(communes_per_district):
            commune_code = f"{24611 + district * 100 + commune:05d}"
            unit_rows.append(f"{commune_code},Xã {district}-{commune},{district_code}")
            venue_rows += [
                f"V{commune_code}-{n:03d},Địa điểm {n} xã {commune_code},{commune_code},market,Thôn {n}"
                for n in range(venues_per_commune)
            ]
        unit_rows.append(f"{district_code},Huyện {district},67")
    unit_rows.append("67,Tỉnh Đắk Nông,")
    return (
        "code,name,parent\n" + "\n".join(unit_rows) + "\n",
        "code,name,unit,category,address\n" + "\n".join(venue_rows) + "\n",
    )


def documented(header: str) -> str:
    """The example in docs/rollout.md whose first line is `header`."""
    blocks = re.findall(r"```csv\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    (block,) = [block for block in blocks if block.startswith(header + "\n")]
    return str(block)


# Importing


def test_the_documented_examples_import_and_show_in_the_tree(engine: Engine):
    assert units_csv(engine, documented("code,name,parent")).added == 5
    assert venues_csv(engine, documented("code,name,unit,category,address")).added == 3
    with engine.begin() as conn:
        tree = [(row["code"], row["depth"], row["venues"]) for row in list_units(conn)]
        address = conn.execute(select(venues.c.address).where(venues.c.code == "DN-GN-001")).scalar_one()
    assert tree == [("67", 0, 0), ("660", 1, 0), ("24611", 2, 1), ("24612", 2, 1), ("661", 1, 1)]
    assert address == "Đường Tôn Đức Thắng, phường Nghĩa Thành"


def test_a_province_of_5000_venues_imports_in_seconds_and_again_changes_nothing(engine: Engine):
    unit_file, venue_file = province()
    started = time.perf_counter()
    first = units_csv(engine, unit_file)
    placed = venues_csv(engine, venue_file)
    took = time.perf_counter() - started
    assert (first.added, placed.added) == (111, 5000)
    assert took < 8, f"{took:.1f} s"  # 0.1 s on SQLite or PostgreSQL (bench/bulk_setup_bench.py)
    before = counts(engine)

    again = units_csv(engine, unit_file), venues_csv(engine, venue_file)
    assert [(done.added, done.updated, done.unchanged) for done in again] == [(0, 0, 111), (0, 0, 5000)]
    assert counts(engine) == before  # not even an audit entry

    with engine.begin() as conn:
        tree = {key: value for key, value in conn.execute(select(units.c.code, units.c.parent_id))}
        ids = {key: value for key, value in conn.execute(select(units.c.code, units.c.id))}
    assert tree["67"] is None and tree["660"] == ids["67"] and tree["24611"] == ids["660"]


def test_a_changed_row_updates_and_what_a_file_leaves_out_stays(engine: Engine):
    units_csv(engine, UNITS)
    venues_csv(engine, VENUES)
    renamed = units_csv(engine, "code,name,parent\n660,TP Gia Nghĩa,67\n68,Tỉnh Lâm Đồng,\n24611,Nghĩa Thành,68\n")
    assert (renamed.added, renamed.updated, renamed.unchanged) == (1, 2, 0)
    moved = venues_csv(engine, "code,name,unit,category\nDN-002,Chợ Gia Nghĩa mới,660,market\n")
    assert (moved.added, moved.updated) == (0, 1)
    with engine.begin() as conn:
        rows = {r.code: r for r in conn.execute(select(venues))}
        names = {key: value for key, value in conn.execute(select(units.c.code, units.c.name))}
        actions = conn.execute(select(audit_log.c.action, audit_log.c.detail).order_by(audit_log.c.id)).all()
    assert names == {"67": "Tỉnh Đắk Nông", "660": "TP Gia Nghĩa", "68": "Tỉnh Lâm Đồng", "24611": "Nghĩa Thành"}
    assert rows["DN-001"].address == "Đường Tôn Đức Thắng, Nghĩa Thành"  # left out of the file: as it was
    assert (rows["DN-002"].name, rows["DN-002"].address) == ("Chợ Gia Nghĩa mới", None)  # no address column: kept
    assert [a for a, _ in actions] == ["units-import", "venues-import", "units-import", "venues-import"]
    assert actions[2][1] == {"added": 1, "updated": 2, "unchanged": 0}
    names_only = units_csv(engine, "code,name\n24611,Phường Nghĩa Thành\n")  # no parent column: not moved to the top
    assert (names_only.updated, unit_parent(engine, "24611")) == (1, "68")
    cleared = venues_csv(engine, "code,name,unit,category,address\nDN-001,Bệnh viện đa khoa tỉnh,24611,hospital,\n")
    assert cleared.updated == 1


UNIT_PROBLEMS = [
    ("code,name,parent\n67,Đắk Nông,\n660,Gia Nghĩa,99\n", "line 3, column parent: no unit 99"),
    (
        "code,name,parent\n1,A,2\n2,B,3\n3,C,1\n",
        "line 2, column parent: the units' parents go round in a loop: 1 → 2 → 3 → 1",
    ),
    ("code,name,parent\n67,A,67\n", "line 2, column parent: a unit cannot be its own parent"),
    ("code,name,parent\n67,A,\n660,B,67\n67,C,\n", "line 4, column code: unit 67 is on line 2 already"),
    ("code,name,parent\n67," + "x" * 201 + ",\n", "line 2, column name: longer than 200 characters"),
    ("code,name,parent\n67,Đắk\x07Nông,\n", "line 2, column name: a control or invisible character (U+0007)"),
    ("code,name,parent\n67,Đắk\u200bNông,\n", "line 2, column name: a control or invisible character (U+200B)"),
    ("code,name,parent\n6 7,A,\n", "line 2, column code: not a code"),
    ("code,name,parent\n,A,\n", "line 2, column code: empty"),
    ("code,name\n67,A\n68,\n", "line 3, column name: empty"),
    ("code,name,parent\n67,A,\n68,B\n", "line 3: 2 cells, where the first line names 3 columns"),
    ("code,nom,parent\n67,A,\n", "line 1: unknown column 'nom'"),
    ("code,name,parent\n67,A\x00,\n", "line 2, column name: a control or invisible character (U+0000)"),
    (b"code,name,parent\n67,\xc4\x90\xe1\xba\xafk N\xf4ng,\n", "line 2: not UTF-8 text"),
]


def test_a_wrong_row_of_units_csv_refuses_the_file_saying_where(engine: Engine):
    units_csv(engine, "code,name,parent\n1,Một,\n")
    before = counts(engine)
    for text, problem in UNIT_PROBLEMS:  # one database for all: a refusal writes nothing, so each starts the same
        with pytest.raises(ImportRefused) as refused:
            units_csv(engine, text)
        assert problem in str(refused.value) and "nothing imported" in str(refused.value), text
        assert counts(engine) == before, text


def test_a_loop_through_a_unit_held_already_is_refused(engine: Engine):
    units_csv(engine, UNITS)
    with pytest.raises(ImportRefused, match=r"line 2, column parent: .*loop: 67 → 24611 → 660 → 67"):
        units_csv(engine, "code,name,parent\n67,Tỉnh Đắk Nông,24611\n")


VENUE_PROBLEMS = [  # after a right row on line 2
    ("DN-9,Chợ,24611,shop,\n", "line 3, column category: no category 'shop': one of office, factory"),
    ("DN-9,Chợ,99999,market,\n", "line 3, column unit: no unit 99999: import units.csv first"),
    ("DN-9,Chợ,24611,market,\nDN-9,Chợ 2,24611,market,\n", "line 4, column code: venue DN-9 is on line 3 already"),
    ("DN-9,Chợ,24611,market," + "đ" * 301 + "\n", "line 3, column address: longer than 300 characters"),
    ("DN-9,Chợ\tlớn,24611,market,\n", "line 3, column name: a control or invisible character (U+0009)"),
    ("DN-9,,24611,,\n", "line 3, column category: empty"),
    ("DN-9,Chợ,,market,\n", "line 3, column unit: empty"),
    ('DN-9,"Chợ\nlớn",24611,market,\n', "line 3, column name: a control or invisible character (U+000A)"),
]


def test_a_wrong_row_of_venues_csv_refuses_the_file_saying_where(engine: Engine):
    units_csv(engine, UNITS)
    before = counts(engine)
    for rows, problem in VENUE_PROBLEMS:
        with pytest.raises(ImportRefused) as refused:
            venues_csv(engine, "code,name,unit,category,address\nDN-0,Chợ đúng,24611,market,\n" + rows)
        assert problem in str(refused.value), rows
        assert counts(engine) == before, rows


def test_every_problem_of_a_file_is_listed_at_once(engine: Engine):
    with pytest.raises(ImportRefused) as refused:
        units_csv(engine, "code,name,parent\n67,,\n6 8,B,\n69,C,70\n")
    assert [str(problem) for problem in refused.value.problems] == [
        "line 2, column name: empty: every row needs one",
        "line 3, column code: not a code: letters, digits, '.', '_' or '-' only",
        "line 4, column parent: no unit 70 in the file or held already (a spreadsheet drops leading zeros: format "
        "the column as text)",
    ]


# The command line


def test_the_commands_import_refuse_and_print_a_sheet(db_url: str, tmp_path: Path):
    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    (tmp_path / "venues.csv").write_text(VENUES.replace("hospital", "clinic"), encoding="utf-8")
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(central_cli, ["--db", db_url, "--secret-file", str(tmp_path / "s"), *args])

    done = run("unit", "import", str(tmp_path / "units.csv"))
    assert (done.exit_code, done.output) == (0, "units.csv: 3 units added, 0 updated, 0 unchanged\n")
    refused = run("venue", "import", str(tmp_path / "venues.csv"))
    assert refused.exit_code == 1
    assert "venues.csv, line 2, column category: no category 'clinic'" in refused.output
    assert "nothing imported" in refused.output and "Traceback" not in refused.output
    (tmp_path / "venues.csv").write_text(VENUES, encoding="utf-8")
    assert run("venue", "import", str(tmp_path / "venues.csv")).exit_code == 0
    sheet = tmp_path / "sheet.html"
    made = run("enroll-sheet", "--unit", "660", "--server", SERVER, "--valid-days", "14", "--output", str(sheet))
    assert made.exit_code == 0, made.output
    assert made.output == f"{sheet}: 2 enrolment codes for the venues of 660, valid 14 days\n"
    assert sheet.read_text(encoding="utf-8").count('<section class="card"') == 2
    assert not list(tmp_path.glob("*.part"))
    wrong = run("enroll-sheet", "--unit", "660", "--server", "central.example.vn", "--output", str(tmp_path / "x.html"))
    assert wrong.exit_code == 1 and "--server 'central.example.vn': not the centre's address" in wrong.output
    assert not (tmp_path / "x.html").exists() and not list(tmp_path.glob("*.part"))


# The enrolment sheet


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def district(engine: Engine) -> None:
    """Two districts: 660 with four venues (in its commune, and one in itself), 661 with one."""
    units_csv(engine, UNITS + "661,Huyện Cư Jút,67\n")
    venues_csv(
        engine,
        VENUES + "DN-003,Trường THCS,24611,school,\nDN-004,UBND thành phố,660,office,\nCJ-001,Chợ Cư Jút,661,market,\n",
    )


def sheet_of(engine: Engine, unit: str = "660", *, days: int = 14, every: bool = False, now: datetime = NOW) -> Sheet:
    with engine.begin() as conn:
        return make_sheet(conn, unit, server=SERVER, valid_days=days, now=now, actor="cli:test", every_venue=every)


def test_the_sheet_has_a_code_for_each_venue_without_a_kiosk_and_each_enrols_one(engine: Engine):
    district(engine)
    with engine.begin() as conn:
        enroll(conn, make_enroll_code(conn, "DN-001", NOW), public_key(), "gate 1", NOW)  # DN-001 has its kiosk
    sheet = sheet_of(engine)
    assert [entry.venue for entry in sheet.entries] == ["DN-002", "DN-003", "DN-004"]  # not CJ-001: another district
    assert sheet.expires_at == NOW + timedelta(days=14)
    assert all(entry.text == f"KIOSK-ENROL:{SERVER}|{entry.code}" for entry in sheet.entries)
    assert all(enrolment_target(None, None, entry.text) == (SERVER, entry.code) for entry in sheet.entries)
    with engine.begin() as conn:
        hashes = set(conn.execute(select(enroll_codes.c.code_hash)).scalars())
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "enroll-sheet")).all()
    assert not {entry.code for entry in sheet.entries} & hashes  # stored hashed
    assert audit[-1].subject == "660" and audit[-1].detail["codes"] == 3
    assert not any(entry.code in str(row.detail) for row in audit for entry in sheet.entries)

    for entry in sheet.entries:
        with engine.begin() as conn:
            assert enroll(conn, entry.code, public_key(), None, NOW + timedelta(days=13)).venue == entry.venue
    with engine.begin() as conn, pytest.raises(Denied):
        enroll(conn, sheet.entries[0].code, public_key(), None, NOW)  # once only
    assert sheet_of(engine).entries == []  # every venue has a kiosk now
    assert len(sheet_of(engine, every=True).entries) == 4
    with engine.begin() as conn:
        conn.execute(update(devices).values(revoked_at=NOW))
    assert len(sheet_of(engine).entries) == 4  # a revoked kiosk is no kiosk
    with engine.begin() as conn:
        conn.execute(update(venues).where(venues.c.code == "DN-004").values(retired_at=NOW))
    assert [entry.venue for entry in sheet_of(engine, every=True).entries] == ["DN-001", "DN-002", "DN-003"]


def test_a_code_of_the_sheet_is_refused_once_it_expires(engine: Engine):
    district(engine)
    sheet = sheet_of(engine, days=1)
    with engine.begin() as conn, pytest.raises(Denied, match="expired"):
        enroll(conn, sheet.entries[0].code, public_key(), None, NOW + timedelta(days=1, seconds=1))
    with pytest.raises(CentralError, match="--valid-days 91: between 1 and 90"):
        sheet_of(engine, days=91)
    with pytest.raises(CentralError, match="no unit 999"):
        sheet_of(engine, "999")


def test_the_page_is_whole_without_a_network(engine: Engine):
    district(engine)
    page = render_sheet(sheet_of(engine))
    assert page.count("<svg") == 4 and "@page { size: A4" in page
    assert not re.search(r"<script|<link|<img|src=|url\(|@import", page)
    assert "hết hạn 21/12/2026 09:00" in page and "expire 21 Dec 2026 09:00" in page  # Asia/Ho_Chi_Minh
    assert "Đường Tôn Đức Thắng, Nghĩa Thành" in page and "kiosk enroll --sheet-text" in page
    empty = render_sheet(replace(sheet_of(engine), entries=[]))
    assert "Every venue here has a kiosk already" in empty and "<svg" not in empty


def test_the_kiosk_takes_the_sheet_text_alone(tmp_path: Path):
    assert enrolment_target("https://a", "CODE", None) == ("https://a", "CODE")
    for text in ("KIOSK-ENROL:https://a", "https://a|CODE", "KIOSK-ENROL:ftp://a|CODE", "KIOSK-ENROL:https://a|"):
        result = CliRunner().invoke(kiosk_cli, ["enroll", "--sheet-text", text, "--state-dir", str(tmp_path)])
        assert result.exit_code == 2 and "not an enrolment sheet's QR text" in result.output
    both = CliRunner().invoke(kiosk_cli, ["enroll", "--sheet-text", "x", "--code", "C", "--state-dir", str(tmp_path)])
    assert both.exit_code == 2 and "give --sheet-text alone" in both.output


# In a browser: the printed page and a phone's screen, and its QR code scanned and used to enrol


@pytest.mark.parametrize("width", [320, 794])  # a small phone; A4's width at 96 dpi
def test_the_sheet_fits_a4_and_a_phone_and_its_qr_code_enrols_a_kiosk(
    db_url: str, engine: Engine, browser: Any, tmp_path: Path, width: int
):
    district(engine)
    with CentralServer(db_url) as central:
        with engine.begin() as conn:
            sheet = make_sheet(conn, "660", server=central.url, valid_days=14, now=datetime.now(UTC), actor="t")
        path = tmp_path / "sheet.html"
        path.write_text(render_sheet(sheet), encoding="utf-8")
        context = browser.new_context(viewport={"width": width, "height": 900})
        elsewhere: list[str] = []
        context.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else elsewhere.append(r.url))
        try:
            page = context.new_page()
            page.goto(path.as_uri())
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            shot = page.locator("svg.qr").first.screenshot()
        finally:
            context.close()
        assert elsewhere == []
        image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
        (code,) = ZxingDecoder().read(image).codes
        text = code.text
        assert text == sheet.entries[0].text
        if width == 320:  # scanned from a phone's screen: the kiosk enrols with that text alone
            command = [
                sys.executable,
                "-m",
                "kiosk",
                "enroll",
                "--sheet-text",
                text,
                "--state-dir",
                str(tmp_path / "k"),
            ]
            enrolled = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert enrolled.returncode == 0, enrolled.stderr
            assert f"at venue {sheet.entries[0].venue}" in enrolled.stdout


def test_a_code_typed_in_its_printed_groups_enrols_and_a_retired_venue_gets_no_code(engine: Engine) -> None:
    district(engine)
    with engine.begin() as conn:
        code = make_enroll_code(conn, "DN-001", NOW)
        spaced = " ".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()  # as read off the sheet
        assert enroll(conn, spaced, public_key(), "gate 1", NOW).venue == "DN-001"
        conn.execute(update(venues).where(venues.c.code == "DN-002").values(retired_at=NOW))
        with pytest.raises(CentralError, match="venue DN-002 was retired on 2026"):
            make_enroll_code(conn, "DN-002", NOW)
