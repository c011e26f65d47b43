"""`kiosk-central`'s command line, the contract of issue 4, run as a subprocess on SQLite and on PostgreSQL.

Exit codes: 0 done, 1 refused with a message on stderr, 2 usage (click). What a test needs but does not test is
set up through the library (central_fixtures), to keep the number of subprocesses down.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from central_fixtures import SECRET, add_unit, add_venue, device_time, fresh_database, make_event, new_enroll_code
from conftest import CCCD_AN
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from dccmaker import make_signer, trust_json
from sqlalchemy import Engine, select

from central.admin import CODE_ALPHABET, CODE_LENGTH
from central.db import connect
from central.devices import Device, enroll
from central.ingest import ingest
from central.models import DeviceTime, EventIn
from central.schema import devices, events, units, venue_days
from kiosk.credentials import SubjectKeyer, read_credential
from kiosk.isotime import parse_iso

Run = Callable[..., subprocess.CompletedProcess[str]]
REQUIRED = {"event_id", "device_id", "venue", "direction", "subject_key", "decision", "reason", "time", "time_synced"}


@pytest.fixture
def central(db_url: str, tmp_path: Path) -> Run:
    """`kiosk-central --db URL ARGS...` in tmp_path, with the centre's secret in a file there."""
    secret_file = tmp_path / "central.secret"
    secret_file.write_text(SECRET.hex())
    secret_file.chmod(0o600)

    def run(
        *args: str, db: str | None = db_url, env: dict[str, str] | None = None, stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "central", *(["--db", db] if db else []), "--secret-file", str(secret_file)]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_CENTRAL_")} | (env or {})
        return subprocess.run(
            [*command, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=environment
        )

    return run


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    yield engine
    engine.dispose()


def enrolled(engine: Engine, venue: str) -> Device:
    """A device enrolled at `venue` through the library, with a key of its own."""
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    code = new_enroll_code(engine, venue)
    with engine.begin() as conn:
        return enroll(conn, code, base64.b64encode(raw).decode(), "gate", datetime.now(UTC))


def uploaded(engine: Engine, device: Device, events: list[dict[str, Any]]) -> None:
    """`events` stored as an upload from `device` stores them."""
    with engine.begin() as conn:
        batch = [EventIn.model_validate(e) for e in events]
        ingest(conn, device, DeviceTime.model_validate(device_time()), batch, datetime.now(UTC))


def lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def refused(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The message of a refusal that exited with `code`."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result.stderr


# Units, venues, enrolment codes


def test_a_unit_tree_a_venue_and_an_enrolment_code(central: Run, engine: Engine) -> None:
    assert central("unit", "add", "HN", "Thành phố Hà Nội").stdout == "unit HN added\n"
    assert central("unit", "add", "HN-HK", "Quận Hoàn Kiếm", "--parent", "HN").returncode == 0
    assert central("unit", "add", "HN-HK-HB", "Phường Hàng Bài", "--parent", "HN-HK").returncode == 0
    added = central("venue", "add", "BV-VD", "Bệnh viện Việt Đức", "--unit", "HN-HK-HB", "--category", "hospital")
    assert added.returncode == 0 and added.stdout == "venue BV-VD added\n"
    made = central("enroll-code", "--venue", "BV-VD")
    assert made.returncode == 0, made.stderr
    code = made.stdout.splitlines()[-1]
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    with engine.connect() as conn:
        tree = {row.code: row for row in conn.execute(select(units))}
    assert tree["HN"].parent_id is None and tree["HN-HK"].parent_id == tree["HN"].id
    assert tree["HN-HK-HB"].parent_id == tree["HN-HK"].id and tree["HN-HK-HB"].name == "Phường Hàng Bài"
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with engine.begin() as conn:
        assert enroll(conn, code, base64.b64encode(raw).decode(), "gate", datetime.now(UTC)).venue == "BV-VD"


def test_the_database_may_come_from_KIOSK_CENTRAL_DB(central: Run, db_url: str) -> None:
    assert central("unit", "add", "HN", "Hà Nội", db=None, env={"KIOSK_CENTRAL_DB": db_url}).returncode == 0
    assert "unit HN exists already" in refused(central("unit", "add", "HN", "Hà Nội"))


def test_refusals_exit_1_and_say_why(central: Run, engine: Engine) -> None:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    assert "no unit NOPE; add it first" in refused(central("unit", "add", "X", "X", "--parent", "NOPE"))
    assert "no unit NOPE" in refused(central("venue", "add", "V2", "V2", "--unit", "NOPE", "--category", "school"))
    assert "venue V1 exists already" in refused(
        central("venue", "add", "V1", "V1", "--unit", "HN", "--category", "school")
    )
    assert "unit HN exists already" in refused(central("unit", "add", "HN", "Hà Nội"))
    assert "no venue NOPE" in refused(central("enroll-code", "--venue", "NOPE"))
    assert "no active device" in refused(central("device", "revoke", "no-such-device"))


def test_a_category_off_the_list_is_a_usage_error(central: Run, engine: Engine) -> None:
    add_unit(engine, "HN")
    message = refused(central("venue", "add", "V1", "V1", "--unit", "HN", "--category", "casino"), code=2)
    assert "Invalid value for '--category'" in message and "hospital" in message


def test_an_unreachable_database_is_a_refusal_not_a_traceback(central: Run, tmp_path: Path) -> None:
    message = refused(central("unit", "add", "HN", "Hà Nội", db=f"sqlite:///{tmp_path}/no/such/dir/c.db"))
    assert message.startswith("kiosk-central: cannot open the database") and "Traceback" not in message


# Events


def test_events_export_writes_one_json_object_per_event(central: Run, engine: Engine, db_url: str) -> None:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    add_venue(engine, "V2", "HN")
    at_v1, at_v2 = enrolled(engine, "V1"), enrolled(engine, "V2")
    synced_at = 1_764_140_000.25  # 2025-11-26T06:53:20.25Z
    first = make_event(wall_time=synced_at, clock_synced=True, direction="out", decision="DENY", reason="red-list")
    uploaded(engine, at_v1, [first, make_event(subject_key=None, decision="REVIEW", reason="unreadable")])
    uploaded(engine, at_v2, [make_event()])
    # The session time zone of a server set up in Vietnam: the export still says UTC.
    local = db_url + "?options=-c%20timezone%3DAsia/Ho_Chi_Minh" if db_url.startswith("postgresql") else db_url
    exported = central("events", "export", "--format", "jsonl", db=local)
    assert exported.returncode == 0, exported.stderr
    out = lines(exported.stdout)
    assert len(out) == 3 and all(set(e) >= REQUIRED for e in out)
    assert all(e["time"].endswith("+00:00") and parse_iso(e["time"]).utcoffset() == timedelta(0) for e in out)
    mine = next(e for e in out if e["event_id"] == first["event_id"])
    assert mine == mine | {"device_id": at_v1.id, "venue": "V1", "direction": "out", "decision": "DENY"}
    assert mine == mine | {"reason": "red-list", "subject_key": first["subject_key"], "time_synced": True}
    assert mine["time"] == "2025-11-26T06:53:20.250000+00:00"
    only_v2 = lines(central("events", "export", "--format", "jsonl", "--venue", "V2").stdout)
    assert [(e["venue"], e["device_id"]) for e in only_v2] == [("V2", at_v2.id)]


def _jsonl(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects), encoding="utf-8")
    return path


def test_events_import_is_idempotent_and_round_trips(central: Run, engine: Engine, tmp_path: Path) -> None:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    imported: list[dict[str, Any]] = [
        {"event_id": "11111111-1111-4111-8111-111111111111", "device_id": "gate-a", "venue": "V1", "direction": "in",
         "subject_key": "0123456789abcdef0123456789abcdef", "decision": "ACCEPT", "reason": "logged",
         "time": "2025-11-26T01:02:03.456000+00:00", "time_synced": True},
        {"event_id": "22222222-2222-4222-8222-222222222222", "venue": "V1", "direction": "out",
         "subject_key": None, "decision": "REVIEW", "reason": "unreadable",
         "time": "2025-11-26T09:02:03+07:00", "time_synced": False},
    ]  # fmt: skip
    path = _jsonl(tmp_path / "events.jsonl", imported)
    assert central("events", "import", str(path)).stdout == "2 events read, 2 added, 0 held already\n"
    assert central("events", "import", str(path)).stdout == "2 events read, 0 added, 2 held already\n"
    with engine.connect() as conn:
        assert len(conn.execute(select(events.c.event_id)).all()) == 2
        days = conn.execute(select(venue_days.c.day, venue_days.c.scans, venue_days.c.accepted)).all()
    assert [tuple(d) for d in days] == [(date(2025, 11, 26), 2, 1)]  # counted once for the dashboard, local day
    with engine.begin() as conn:
        conn.execute(venue_days.delete())
    assert central("rollup", "rebuild").stdout == "2 events counted into the daily rollup\n"
    with engine.connect() as conn:
        assert conn.execute(select(venue_days.c.scans)).scalar_one() == 2
    exported = lines(central("events", "export", "--format", "jsonl").stdout)
    assert [{k: e[k] for k in REQUIRED} for e in exported] == [
        imported[0],
        {**imported[1], "device_id": None, "time": "2025-11-26T02:02:03+00:00"},  # device_id omitted; time in UTC
    ]
    # Into another server (a migration): the same events come out.
    (tmp_path / "other").mkdir()
    other = fresh_database("sqlite", tmp_path / "other")
    target = connect(other)
    try:
        add_unit(target, "HN")
        add_venue(target, "V1", "HN")
    finally:
        target.dispose()
    dump = _jsonl(tmp_path / "dump.jsonl", exported)
    assert central("events", "import", str(dump), db=other).stdout == "2 events read, 2 added, 0 held already\n"
    assert lines(central("events", "export", "--format", "jsonl", db=other).stdout) == exported


def test_events_import_refuses_a_bad_line_and_adds_nothing(central: Run, engine: Engine, tmp_path: Path) -> None:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    good: dict[str, Any] = {"event_id": "33333333-3333-4333-8333-333333333333", "venue": "V1", "direction": "in"}
    good |= {"subject_key": None, "decision": "ACCEPT", "reason": "logged", "time": "2025-11-26T01:00:00Z"}
    path = _jsonl(tmp_path / "bad.jsonl", [good, {**good, "event_id": "4" * 8, "venue": "ELSEWHERE"}])
    message = refused(central("events", "import", str(path)))
    assert "line 2" in message and "ELSEWHERE" in message
    with engine.connect() as conn:
        assert conn.execute(select(events.c.event_id)).all() == []


# Status list


def test_status_set_list_and_clear(central: Run) -> None:
    key = "0123456789abcdef0123456789abcdef"
    assert central("status", "set", "--subject-key", key.upper(), "--status", "yellow").stdout == f"{key} yellow\n"
    by_identity = central(
        "status", "set", "--identity", "001090012345", "--status", "red", "--until", "2999-01-01T07:00+07:00"
    )
    assert by_identity.returncode == 0, by_identity.stderr
    identity = read_credential(CCCD_AN).identity
    assert identity is not None
    kiosk_key = SubjectKeyer(SECRET).key(identity)  # what a kiosk computes from the card
    assert by_identity.stdout.split()[0] == kiosk_key
    listed = json.loads(central("status", "list").stdout)
    assert sorted(listed["entries"], key=lambda e: e["status"]) == [
        {"subject_key": kiosk_key, "status": "red", "until": "2999-01-01T00:00:00+00:00"},
        {"subject_key": key, "status": "yellow"},
    ]
    assert central("status", "clear", key).stdout == "cleared\n"
    assert central("status", "clear", key).stdout == "not on the list\n"
    assert [e["subject_key"] for e in json.loads(central("status", "list").stdout)["entries"]] == [kiosk_key]


@pytest.mark.parametrize(
    "args",
    [
        ["--status", "red"],
        ["--subject-key", "0" * 32, "--identity", "001090012345", "--status", "red"],
        ["--identity", "12345", "--status", "red"],
        ["--subject-key", "0" * 32, "--status", "green"],
        ["--subject-key", "0" * 32, "--status", "red", "--until", "next week"],
    ],
    ids=["neither", "both", "not-an-id", "green", "bad-until"],
)
def test_status_set_usage_errors_exit_2(central: Run, args: list[str]) -> None:
    refused(central("status", "set", *args), code=2)


# Trust list


def test_trust_import_and_list(central: Run, tmp_path: Path) -> None:
    document = trust_json(make_signer("ES256"), make_signer("ES256"))
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(document))
    assert central("trust", "import", str(path)).stdout == "2 trust entries added\n"
    assert central("trust", "import", str(path)).stdout == "0 trust entries added\n"  # the same list again
    listed = json.loads(central("trust", "list").stdout)
    assert listed["certificates"] == document["certificates"]
    assert listed["shc_issuers"] == listed["csca"] == listed["pass_keys"] == []
    assert "issued_at" in listed


def test_trust_import_refuses_a_bad_list(central: Run, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"certificates": [{"country": "VN", "certificate": "bm90IGEgY2VydGlmaWNhdGU="}]}))
    assert "trust list refused" in refused(central("trust", "import", str(broken)))
    not_json = tmp_path / "not.json"
    not_json.write_text("certificates: []")
    assert "not JSON" in refused(central("trust", "import", str(not_json)))
    assert json.loads(central("trust", "list").stdout)["certificates"] == []


# Devices


def test_device_revoke(central: Run, engine: Engine) -> None:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    device = enrolled(engine, "V1")
    assert central("device", "revoke", device.id).stdout == f"device {device.id} revoked\n"
    with engine.connect() as conn:
        assert conn.execute(select(devices.c.revoked_at).where(devices.c.id == device.id)).scalar() is not None
    assert central("device", "list").stdout.split() == [device.id, "V1", "revoked"]
    assert "no active device" in refused(central("device", "revoke", device.id))


def test_account_add_says_the_unit_is_unknown_before_asking_for_a_password(central: Run, engine: Engine) -> None:
    """Issue 12 item 12: the password was asked for twice, then the unit was found not to exist."""
    add_unit(engine, "67", "Tỉnh Đắk Nông")
    for args, refusal in [
        (["--role", "tracer", "--unit", "99"], "no unit 99"),
        (["--role", "venue_admin", "--venue", "NOPE"], "no venue NOPE"),
        (["--role", "tracer"], "needs --unit"),
    ]:
        done = central("account", "add", "dn-cdc", *args, stdin="a-long-password-1\na-long-password-1\n")
        assert done.returncode == 1 and refusal in done.stderr, done.stderr
        assert "Password" not in done.stdout + done.stderr
    done = central("account", "add", "dn-cdc", "--role", "tracer", "--unit", "67", stdin="a-long-password-1\n" * 2)
    assert done.returncode == 0 and "Password" in done.stderr, done.stderr
    again = central("account", "add", "dn-cdc", "--role", "tracer", "--unit", "67")
    assert again.returncode == 1 and "exists already" in again.stderr and "Password" not in again.stdout
    nobody = central("account", "password", "nobody")
    assert nobody.returncode == 1 and "no account nobody" in nobody.stderr and "Password" not in nobody.stdout


def test_unit_list_shows_the_tree_and_venue_list_the_venues(central: Run, engine: Engine) -> None:
    """Issue 12 item 13: units and venues could be added but not listed."""
    assert central("unit", "list").stdout == "no units yet: kiosk-central unit add CODE NAME\n"
    add_unit(engine, "67", "Tỉnh Đắk Nông")
    add_unit(engine, "660", "Thành phố Gia Nghĩa", parent="67")
    add_unit(engine, "01", "Hà Nội")
    add_venue(engine, "BV-DN", unit="660", category="hospital")
    add_venue(engine, "CHO-HN", unit="01", category="market")
    enrolled(engine, "BV-DN")
    assert central("unit", "list").stdout.splitlines() == [
        "01  Hà Nội  (1 venue)",
        "67  Tỉnh Đắk Nông  (0 venues)",
        "  660  Thành phố Gia Nghĩa  (1 venue)",
    ]
    under = json.loads(central("unit", "list", "--under", "67", "--json").stdout)
    assert [(u["code"], u["parent"], u["depth"]) for u in under] == [("67", None, 0), ("660", "67", 1)]
    venues = central("venue", "list").stdout.splitlines()
    assert venues[0].startswith("BV-DN  ") and venues[0].endswith("unit 660  hospital  1 kiosk")
    assert venues[1].endswith("unit 01  market  0 kiosks")
    in_67 = json.loads(central("venue", "list", "--unit", "67", "--json").stdout)
    assert [v["code"] for v in in_67] == ["BV-DN"] and in_67[0]["kiosks"] == 1
    assert central("venue", "list", "--category", "school").stdout == "no venues here\n"
    unknown = central("venue", "list", "--unit", "99")
    assert unknown.returncode == 1 and "no unit 99" in unknown.stderr
