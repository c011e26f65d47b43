"""The centre's access lists (docs/access-list.md): groups and people of a venue imported from CSV, validated row
by row and written all or nothing, names sealed to the health service, and the list document kiosks pull.

On SQLite, and on PostgreSQL too when $KIOSK_TEST_PG_URL is set (the `db_url` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from central_fixtures import SECRET, add_unit, add_venue
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, func, select, text

from central.audit import entries
from central.db import connect
from central.declarations import set_contact_public_key
from central.errors import CentralError
from central.people import (
    ImportRefused,
    WindowError,
    access_etag,
    access_list,
    count_people,
    format_windows,
    import_groups,
    import_people,
    list_groups,
    list_version,
    name_context,
    parse_windows,
    remove_person,
)
from central.schema import access_groups, access_members, access_people, venues
from central.sealing import open_sealed
from central.subjects import key_of_number

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
GROUPS = """name,windows,valid_from,valid_until,gates
staff,"Mon-Fri 06:30-18:30; Sat 07:00-12:00",2026-01-01,2026-12-31,
night-shift,"Mon-Fri 22:00-24:00; Tue-Sat 00:00-06:00",,,gate-east gate-west
bao-ve,"T2-CN 00:00-24:00",,,
contractors,"T2-T6 08:00-17:00",,,
"""
CCCD = "001099012345"
KEY = "4f1c0e6a9b2d7c3e5a8f0b1d2c4e6a8f"
PEOPLE = f"""cccd,subject_key,name,groups
{CCCD},,Nguyễn Văn An,staff
,{KEY},,contractors night-shift
"""
ALWAYS = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    add_unit(engine, "HN")
    add_venue(engine, "FACTORY-1", "HN")
    add_venue(engine, "FACTORY-2", "HN")
    yield engine
    engine.dispose()


def groups(engine: Engine, text: str = GROUPS, venue: str = "FACTORY-1") -> Any:
    with engine.begin() as conn:
        return import_groups(conn, venue, text.encode(), actor="test", now=NOW)


def people(
    engine: Engine, text: str = PEOPLE, venue: str = "FACTORY-1", *, replace: bool = False, secret: Any = SECRET
) -> Any:
    with engine.begin() as conn:
        return import_people(conn, venue, text.encode(), secret=secret, actor="test", now=NOW, replace=replace)


def refusal(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ImportRefused) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def document(engine: Engine, venue: str = "FACTORY-1") -> dict[str, Any]:
    with engine.connect() as conn:
        venue_id = conn.execute(select(venues.c.id).where(venues.c.code == venue)).scalar_one()
        return access_list(conn, venue_id, NOW)


def venue_id(engine: Engine, venue: str = "FACTORY-1") -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(venues.c.id).where(venues.c.code == venue)).scalar_one())


def version_of(engine: Engine, venue: str = "FACTORY-1") -> int:
    with engine.connect() as conn:
        return list_version(conn, venue_id(engine, venue))


def etag(engine: Engine, venue: str = "FACTORY-1") -> str:
    with engine.connect() as conn:
        return access_etag(conn, venue_id(engine, venue))


def counted(engine: Engine, venue: str = "FACTORY-1") -> int:
    with engine.connect() as conn:
        return count_people(conn, venue)


def last_entry(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return entries(conn, 1)[0]


def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def memberships(engine: Engine, venue: str = "FACTORY-1") -> dict[str, list[str]]:
    """Each subject key's group names, sorted."""
    names = {g["id"]: g["name"] for g in document(engine, venue)["groups"]}
    return {key: sorted(names[i] for i in ids) for key, ids in document(engine, venue)["people"].items()}


# Time windows


@pytest.mark.parametrize(
    ("given", "windows"),
    [
        ("Mon-Fri 06:30-18:30", [{"days": [1, 2, 3, 4, 5], "start": "06:30", "end": "18:30"}]),
        (
            "Mon-Fri 06:30-18:30; Sat 07:00-12:00",
            [
                {"days": [1, 2, 3, 4, 5], "start": "06:30", "end": "18:30"},
                {"days": [6], "start": "07:00", "end": "12:00"},
            ],
        ),
        ("T2-CN 00:00-24:00", ALWAYS),
        ("t7,cn 6:00-9:30", [{"days": [6, 7], "start": "06:00", "end": "09:30"}]),
        ("Mon,Wed-Thu,Sun 08:00 - 12:00;", [{"days": [1, 3, 4, 7], "start": "08:00", "end": "12:00"}]),
        (
            "Mon-Fri 22:00-24:00; Tue-Sat 00:00-06:00",
            [
                {"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "24:00"},
                {"days": [2, 3, 4, 5, 6], "start": "00:00", "end": "06:00"},
            ],
        ),
        (
            "Mon 08:00-12:00; Mon 12:00-13:00",  # touching, not overlapping
            [{"days": [1], "start": "08:00", "end": "12:00"}, {"days": [1], "start": "12:00", "end": "13:00"}],
        ),
    ],
)
def test_windows_are_read_in_english_or_vietnamese_day_names(given: str, windows: list[dict[str, Any]]) -> None:
    parsed = parse_windows(given)
    assert [w.as_json() for w in parsed] == windows
    assert [w.as_json() for w in parse_windows(format_windows(parsed))] == windows


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("", "no window"),
        ("Mon-Fri", "DAYS HH:MM-HH:MM"),
        ("Mon-Fri 18:30-06:30", "ends before it starts"),
        ("Mon 08:00-08:00", "ends before it starts"),
        ("Mon 24:00-24:00", "24:00"),
        ("Mon 07:00-25:00", "25:00"),
        ("Mon 07:60-08:00", "07:60"),
        ("Moon 07:00-08:00", "Moon"),
        ("T8 07:00-08:00", "T8"),
        ("Fri-Mon 07:00-08:00", "Fri-Mon"),
        ("Mon-Fri 06:30-18:30; Wed 12:00-20:00", "overlap on Wed"),
        ("T2-T6 08:00-12:00; T4 11:59-13:00", "overlap on Wed"),
        ("Mon,Mon 08:00-09:00", "Mon twice"),
    ],
)
def test_bad_windows_are_refused_with_what_is_wrong(given: str, problem: str) -> None:
    with pytest.raises(WindowError, match=problem):
        parse_windows(given)


# Groups


def test_the_documented_groups_import_and_make_the_list(engine: Engine) -> None:
    result = groups(engine)
    assert (result.added, result.replaced) == (("staff", "night-shift", "bao-ve", "contractors"), ())
    assert result.unknown_gates == ("gate-east", "gate-west")  # no such kiosk at the venue (yet): said, not refused
    listed = {g["name"]: g for g in document(engine)["groups"]}
    assert listed["staff"] == {
        "id": listed["staff"]["id"],
        "name": "staff",
        "valid_from": "2026-01-01",
        "valid_until": "2026-12-31",
        "windows": [
            {"days": [1, 2, 3, 4, 5], "start": "06:30", "end": "18:30"},
            {"days": [6], "start": "07:00", "end": "12:00"},
        ],
        "gates": None,
    }
    assert listed["night-shift"]["gates"] == ["gate-east", "gate-west"]
    assert (listed["bao-ve"]["windows"], listed["bao-ve"]["valid_from"], listed["bao-ve"]["valid_until"]) == (
        ALWAYS,
        None,
        None,
    )
    assert len({g["id"] for g in listed.values()}) == 4


def test_importing_groups_again_replaces_them_by_name_and_keeps_their_ids(engine: Engine) -> None:
    groups(engine)
    before = {g["name"]: g["id"] for g in document(engine)["groups"]}
    again = groups(engine, "name,windows,gates\nstaff,Sat 08:00-09:00,gate-1\nvisitors,CN 09:00-10:00,\n")
    assert (again.added, again.replaced) == (("visitors",), ("staff",))
    after = {g["name"]: g for g in document(engine)["groups"]}
    assert after["staff"]["id"] == before["staff"]
    assert after["staff"]["windows"] == [{"days": [6], "start": "08:00", "end": "09:00"}]
    assert (after["staff"]["valid_from"], after["staff"]["gates"]) == (None, ["gate-1"])
    assert after["night-shift"]["id"] == before["night-shift"]  # not in the file: kept as it was
    assert after["visitors"]["id"] not in before.values()


@pytest.mark.parametrize(
    ("csv", "where"),
    [
        ('name,windows\nstaff,"Mon-Fri 06:30-18:30"\nnight,"Mon 22:00-21:00"\n', "line 3, column windows"),
        ("name,windows\nstaff,Mon 08:00-09:00\nstaff,Tue 08:00-09:00\n", "line 3, column name: staff is on line 2"),
        ("name,windows\n,Mon 08:00-09:00\n", "line 2, column name: empty"),
        ("name,windows\nday shift,Mon 08:00-09:00\n", "line 2, column name"),
        ("name,windows,valid_from\nstaff,Mon 08:00-09:00,2026-02-30\n", "line 2, column valid_from"),
        ("name,windows,valid_from\nstaff,Mon 08:00-09:00,1/2/2026\n", "line 2, column valid_from"),
        (
            "name,windows,valid_from,valid_until\nstaff,Mon 08:00-09:00,2026-05-01,2026-04-30\n",
            "line 2, column valid_until: before valid_from",
        ),
        ("name,windows,gates\nstaff,Mon 08:00-09:00,gate/1\n", "line 2, column gates"),
        ("name,windows\nstaff,Mon 08:00-09:00,extra\n", "line 2: 3 cells"),
        ("name,windows,colour\nstaff,Mon 08:00-09:00,red\n", "line 1: unknown column 'colour'"),
        ("name\nstaff\n", "line 1: no column 'windows'"),
        ("staff,Mon 08:00-09:00\n", "line 1: unknown column 'staff'"),
    ],
)
def test_a_bad_group_row_refuses_the_file_naming_line_and_column(engine: Engine, csv: str, where: str) -> None:
    assert where in refusal(groups, engine, csv)
    assert rows(engine, access_groups) == 0
    assert version_of(engine) == 0


def test_every_problem_of_a_file_is_told_at_once(engine: Engine) -> None:
    message = refusal(groups, engine, "name,windows\na,Mon 9:00-8:00\nb,Xyz 08:00-09:00\nc,Mon 08:00-09:00\n")
    assert "line 2, column windows" in message and "line 3, column windows" in message and "line 4" not in message
    assert "nothing imported" in message


def test_groups_of_one_venue_are_not_another_venues(engine: Engine) -> None:
    groups(engine)
    groups(engine, "name,windows\nstaff,CN 08:00-09:00\n", venue="FACTORY-2")
    assert [g["name"] for g in document(engine, "FACTORY-2")["groups"]] == ["staff"]
    assert len(document(engine, "FACTORY-1")["groups"]) == 4
    with pytest.raises(CentralError, match="no venue NOWHERE"):
        groups(engine, venue="NOWHERE")


# People


def test_the_documented_people_import_with_the_cccd_turned_into_its_key(engine: Engine) -> None:
    groups(engine)
    result = people(engine)
    assert (result.added, result.updated, result.removed) == (2, 0, 0)
    an = key_of_number(CCCD, SECRET)
    assert memberships(engine) == {an: ["staff"], KEY: ["contractors", "night-shift"]}
    assert counted(engine) == 2


def test_the_cccd_is_never_stored_nor_told(engine: Engine, db_url: str) -> None:
    groups(engine)
    people(engine)
    message = refusal(people, engine, f"cccd,groups\n{CCCD},nobody\n")
    assert CCCD not in message
    with engine.connect() as conn:
        for table in ("access_people", "access_members", "audit_log"):
            dumped = json.dumps([list(r) for r in conn.execute(text(f"SELECT * FROM {table}"))], default=str)
            assert CCCD not in dumped and "Nguyễn" not in dumped


@pytest.mark.parametrize(
    ("csv", "where"),
    [
        ("cccd,subject_key,groups\n,,staff\n", "line 2: give exactly one of cccd and subject_key"),
        (f"cccd,subject_key,groups\n{CCCD},{KEY},staff\n", "line 2: give exactly one of cccd and subject_key"),
        ("cccd,groups\n12345,staff\n", "line 2, column cccd: not a 12-digit"),
        ("cccd,groups\n1099012345,staff\n", "leading zeros"),
        ("subject_key,groups\n4f1c0e6a9b2d7c3e,staff\n", "line 2, column subject_key"),
        ("subject_key,groups\nzz1c0e6a9b2d7c3e5a8f0b1d2c4e6a8f,staff\n", "line 2, column subject_key"),
        (f"subject_key,groups\n{KEY},staff managers\n", "line 2, column groups: no group managers at FACTORY-1"),
        (f"subject_key,groups\n{KEY},\n", "line 2, column groups: empty"),
        (f"subject_key,groups\n{KEY},staff\n{KEY.upper()},bao-ve\n", "line 3: the same person as line 2"),
        (
            f"cccd,subject_key,groups\n{CCCD},,staff\n,{key_of_number(CCCD, SECRET)},staff\n",
            "the same person as line 2",
        ),
        (f"subject_key,name,groups\n{KEY},{'x' * 201},staff\n", "line 2, column name: longer than 200"),
        ("subject_key,name\n", "line 1: no column 'groups'"),
        ("name,groups\nAn,staff\n", "line 1: no column cccd or subject_key"),
        ("groups,subject_key,groups\n", "line 1: column 'groups' given twice"),
        (f"{KEY},staff\n", "line 1: unknown column"),
        ("", "empty"),
        ("\n\n", "empty"),
    ],
)
def test_a_bad_person_row_refuses_the_file_naming_line_and_column(engine: Engine, csv: str, where: str) -> None:
    groups(engine)
    version = version_of(engine)
    assert where in refusal(people, engine, csv)
    assert (rows(engine, access_people), rows(engine, access_members)) == (0, 0)
    assert version_of(engine) == version


def test_a_cccd_needs_the_centres_secret(engine: Engine) -> None:
    groups(engine)
    assert "line 2, column cccd: the centre has no subject-key secret" in refusal(people, engine, secret=None)
    assert people(engine, f"subject_key,groups\n{KEY},staff\n", secret=None).added == 1


def test_a_file_not_utf8_is_refused_with_its_line(engine: Engine) -> None:
    groups(engine)
    latin1 = f"subject_key,name,groups\n{KEY},Nguyên An,staff\n".encode("cp1258")
    with engine.begin() as conn, pytest.raises(ImportRefused, match=r"line 2: not UTF-8.*CSV UTF-8"):
        import_people(conn, "FACTORY-1", latin1, secret=SECRET, actor="test", now=NOW)
    utf16 = f"subject_key,groups\n{KEY},staff\n".encode("utf-16")
    with engine.begin() as conn, pytest.raises(ImportRefused, match="line 1: not UTF-8"):
        import_people(conn, "FACTORY-1", utf16, secret=SECRET, actor="test", now=NOW)


def test_excels_byte_order_mark_and_semicolons_and_crlf_are_read(engine: Engine) -> None:
    groups(engine)
    with engine.begin() as conn:
        data = "\ufeffsubject_key;groups\r\n" + f"{KEY};staff bao-ve\r\n" + ";;\r\n"
        assert import_people(conn, "FACTORY-1", data.encode(), secret=SECRET, actor="t", now=NOW).added == 1
    assert memberships(engine) == {KEY: ["bao-ve", "staff"]}


def test_one_bad_row_among_good_ones_writes_nothing(engine: Engine) -> None:
    groups(engine)
    people(engine)
    good = "\n".join(f"{n:032x},staff" for n in range(50))
    message = refusal(people, engine, f"subject_key,groups\n{good}\n{51:032x},staf\n", replace=True)
    assert "line 52, column groups: no group staf" in message
    assert memberships(engine) == {key_of_number(CCCD, SECRET): ["staff"], KEY: ["contractors", "night-shift"]}


def test_a_person_listed_again_gets_the_files_groups_and_the_others_stay(engine: Engine) -> None:
    groups(engine)
    people(engine)
    version = version_of(engine)
    other = f"{7:032x}"
    result = people(engine, f"subject_key,groups\n{KEY},bao-ve\n{other},staff\n")
    assert (result.added, result.updated, result.removed) == (1, 1, 0)
    assert memberships(engine) == {key_of_number(CCCD, SECRET): ["staff"], KEY: ["bao-ve"], other: ["staff"]}
    assert result.version == version_of(engine) == version + 1


def test_replace_makes_the_venues_people_exactly_the_file(engine: Engine) -> None:
    groups(engine)
    groups(engine, venue="FACTORY-2")
    people(engine)
    people(engine, venue="FACTORY-2")
    result = people(engine, f"subject_key,groups\n{KEY},staff\n", replace=True)
    assert (result.added, result.updated, result.removed) == (0, 1, 1)
    assert memberships(engine) == {KEY: ["staff"]}
    assert len(memberships(engine, "FACTORY-2")) == 2  # another venue's people are not touched
    emptied = people(engine, "subject_key,groups\n", replace=True)
    assert (emptied.removed, memberships(engine)) == (1, {})


def test_badges_go_to_the_kiosks_stay_unique_in_a_venue_and_survive_a_file_without_them(engine: Engine) -> None:
    groups(engine)
    other = f"{7:032x}"
    people(engine, f"subject_key,groups,badge\n{KEY},staff,0004521987\n{other},staff,\n")
    assert document(engine)["badges"] == {KEY: "0004521987"}
    people(engine, f"subject_key,groups\n{KEY},bao-ve\n")  # no badge column: the badge stays
    assert document(engine)["badges"] == {KEY: "0004521987"}
    taken = refusal(people, engine, f"subject_key,groups,badge\n{other},staff,0004521987\n")
    assert "line 2, column badge: already the badge of another person at FACTORY-1" in taken
    swapped = f"subject_key,groups,badge\n{KEY},staff,0000000002\n{other},staff,0004521987\n"
    people(engine, swapped)  # passed on in one file
    assert document(engine)["badges"] == {KEY: "0000000002", other: "0004521987"}
    twice = refusal(people, engine, f"subject_key,groups,badge\n{KEY},staff,1\n{other},staff,1\n")
    assert "line 3, column badge: the same badge as line 2" in twice
    assert "column badge: not a badge number" in refusal(people, engine, f"subject_key,groups,badge\n{KEY},staff,12A\n")


def test_names_are_sealed_to_the_health_service_and_open_only_for_their_person(engine: Engine) -> None:
    private = X25519PrivateKey.generate()
    with engine.begin() as conn:
        set_contact_public_key(conn, private.public_key())
    groups(engine)
    result = people(engine)
    assert (result.names_kept, result.names_sealed, result.names_dropped) == (True, 1, 0)
    an = key_of_number(CCCD, SECRET)
    with engine.connect() as conn:
        sealed = dict(conn.execute(select(access_people.c.subject_key, access_people.c.name_sealed)).all())
    assert sealed[KEY] is None
    assert open_sealed(bytes(sealed[an]), private, name_context("FACTORY-1", an)).decode() == "Nguyễn Văn An"
    with pytest.raises(CentralError):
        open_sealed(bytes(sealed[an]), private, name_context("FACTORY-1", KEY))
    people(engine, f"cccd,groups\n{CCCD},bao-ve\n")  # no name given: the one held stays
    with engine.connect() as conn:
        kept = conn.execute(select(access_people.c.name_sealed).where(access_people.c.subject_key == an)).scalar()
    assert kept == sealed[an]
    assert "Nguyễn" not in json.dumps(document(engine), ensure_ascii=False)


def test_without_a_contact_key_names_are_not_kept_and_the_result_says_so(engine: Engine) -> None:
    groups(engine)
    result = people(engine)
    assert (result.names_kept, result.names_sealed, result.names_dropped) == (False, 0, 1)
    with engine.connect() as conn:
        assert set(conn.execute(select(access_people.c.name_sealed)).scalars()) == {None}


def test_a_person_is_removed_and_the_list_changes(engine: Engine) -> None:
    groups(engine)
    people(engine)
    version = version_of(engine)
    with engine.begin() as conn:
        assert remove_person(conn, "FACTORY-1", KEY.upper(), actor="test", now=NOW, reason="left")
    with engine.begin() as conn:
        assert not remove_person(conn, "FACTORY-1", KEY, actor="test", now=NOW)
    assert list(memberships(engine)) == [key_of_number(CCCD, SECRET)]
    assert version_of(engine) == version + 1  # removing no one changes nothing
    assert last_entry(engine)["action"] == "access-person-remove"


def test_groups_are_listed_with_how_many_people_they_have(engine: Engine) -> None:
    groups(engine)
    people(engine)
    with engine.connect() as conn:
        listed = {g["name"]: g for g in list_groups(conn, "FACTORY-1")}
    assert {name: g["people"] for name, g in listed.items()} == {
        "staff": 1,
        "night-shift": 1,
        "bao-ve": 0,
        "contractors": 1,
    }
    assert listed["staff"]["windows"] == "Mon-Fri 06:30-18:30; Sat 07:00-12:00"
    assert (listed["staff"]["valid_from"], listed["night-shift"]["gates"]) == ("2026-01-01", ["gate-east", "gate-west"])


def test_every_import_is_in_the_audit_log(engine: Engine) -> None:
    groups(engine)
    people(engine, replace=True)
    with engine.connect() as conn:
        last = entries(conn, 2)
    assert [e["action"] for e in last] == ["access-people-import", "access-groups-import"]
    assert {e["subject"] for e in last} == {"FACTORY-1"} and {e["actor"] for e in last} == {"test"}
    assert last[0]["detail"]["replace"] is True and last[0]["detail"]["added"] == 2


# The document


def test_the_document_is_the_documented_one(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Bangkok")
    empty = document(engine)
    assert empty == {
        "version": "0",
        "venue": "FACTORY-1",
        "issued_at": NOW.isoformat(),
        "timezone": "Asia/Bangkok",
        "groups": [],
        "people": {},
        "badges": {},
    }
    groups(engine)
    people(engine)
    full = document(engine)
    assert full["version"] == "2" and list(full) == list(empty)
    ids = {g["name"]: g["id"] for g in full["groups"]}
    assert full["people"][KEY] == sorted([ids["contractors"], ids["night-shift"]])
    assert json.loads(json.dumps(full)) == full


def test_the_etag_follows_the_version_and_the_time_zone(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIOSK_CENTRAL_TZ", raising=False)
    first = etag(engine)
    groups(engine)
    second = etag(engine)
    assert first != second and second == etag(engine)
    assert etag(engine, "FACTORY-2") == first  # its own list, unchanged
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Bangkok")
    assert etag(engine) != second


def test_a_group_valid_for_one_day_and_dates_come_back_as_dates(engine: Engine) -> None:
    groups(engine, "name,windows,valid_from,valid_until\nevent,Sat 08:00-18:00,2026-12-12,2026-12-12\n")
    with engine.connect() as conn:
        row = conn.execute(select(access_groups.c.valid_from, access_groups.c.valid_until)).one()
    assert tuple(row) == (date(2026, 12, 12), date(2026, 12, 12))


# The command line


@pytest.fixture
def central(db_url: str, tmp_path: Path, engine: Engine) -> Any:
    """`kiosk-central --db URL ARGS...` with the centre's secret in a file."""
    secret_file = tmp_path / "central.secret"
    secret_file.write_text(SECRET.hex())
    secret_file.chmod(0o600)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "central", "--db", db_url, "--secret-file", str(secret_file), *args]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_CENTRAL_")}
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=environment)

    return run


def test_the_command_line_imports_lists_and_removes(central: Any, tmp_path: Path) -> None:
    (tmp_path / "groups.csv").write_text(GROUPS, encoding="utf-8")
    (tmp_path / "people.csv").write_text(PEOPLE, encoding="utf-8")
    imported = central("people", "import-groups", "FACTORY-1", "groups.csv")
    assert imported.returncode == 0, imported.stderr
    assert "4 groups: 4 added, 0 replaced" in imported.stdout and "gate-east" in imported.stdout
    enrolled = central("people", "import-people", "FACTORY-1", "people.csv")
    assert enrolled.returncode == 0, enrolled.stderr
    assert "2 people: 2 added, 0 updated, 0 removed" in enrolled.stdout
    assert "names not kept" in enrolled.stdout
    listed = json.loads(central("people", "list", "FACTORY-1", "--json").stdout)
    assert listed["people"] == 2 and {g["name"]: g["people"] for g in listed["groups"]}["staff"] == 1
    assert "staff  Mon-Fri 06:30-18:30; Sat 07:00-12:00" in central("people", "list", "FACTORY-1").stdout
    removed = central("people", "remove", "FACTORY-1", "--cccd", CCCD)
    assert (removed.returncode, removed.stdout) == (0, f"{key_of_number(CCCD, SECRET)} removed from FACTORY-1\n")
    assert "not enrolled" in central("people", "remove", "FACTORY-1", "--subject-key", f"{9:032x}").stdout
    replaced = central("people", "import-people", "FACTORY-1", "people.csv", "--replace")
    assert "1 added, 1 updated, 0 removed" in replaced.stdout


def test_the_command_line_refuses_with_exit_1_and_the_problems(central: Any, tmp_path: Path) -> None:
    (tmp_path / "groups.csv").write_text("name,windows\nstaff,Mon 18:00-08:00\n", encoding="utf-8")
    refused = central("people", "import-groups", "FACTORY-1", "groups.csv")
    assert refused.returncode == 1 and "line 2, column windows" in refused.stderr and "groups.csv" in refused.stderr
    assert central("people", "remove", "FACTORY-1").returncode == 2  # neither --cccd nor --subject-key
    bad = central("people", "remove", "FACTORY-1", "--cccd", "12345")
    assert bad.returncode == 1 and "12345" not in bad.stderr
    assert central("people", "list", "NOWHERE").returncode == 1
