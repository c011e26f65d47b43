"""`GET /api/v1/access-list` (docs/access-list.md): a device pulls its venue's list with its bearer token, gzip-
compressed when it accepts it; its ETag gives 304 without reading the people, until the list changes.

Over real HTTP on loopback, on SQLite and on PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from central_fixtures import CentralServer, DeviceClient, FakeClock, enrolled_device
from sqlalchemy import event

from central.admin import revoke_device
from central.people import import_groups, import_people

PATH = "/api/v1/access-list"
GROUPS = 'name,windows,gates\nstaff,"Mon-Fri 06:30-18:30; Sat 07:00-12:00",\nnight,"T2-T6 22:00-24:00",gate-1\n'
KEY = "4f1c0e6a9b2d7c3e5a8f0b1d2c4e6a8f"


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(datetime(2026, 12, 6, 8, 0, tzinfo=UTC))) as central:
        yield central


@pytest.fixture
def device(server: CentralServer) -> Iterator[DeviceClient]:
    with enrolled_device(server, "FACTORY-1") as client:
        yield client


def enrol(server: CentralServer, csv: str, venue: str = "FACTORY-1", *, replace: bool = False) -> None:
    with server.engine.begin() as conn:
        import_people(conn, venue, csv.encode(), secret=None, actor="test", now=server.clock(), replace=replace)


def add_groups(server: CentralServer, venue: str = "FACTORY-1") -> None:
    with server.engine.begin() as conn:
        import_groups(conn, venue, GROUPS.encode(), actor="test", now=server.clock())


def pull(device: DeviceClient, etag: str | None = None, **headers: str) -> Any:
    sent = {**device.auth_header(), **({"If-None-Match": etag} if etag else {}), **headers}
    return device.session.get(device.base_url + PATH, headers=sent, timeout=30, stream=True)


def test_a_device_needs_its_token(server: CentralServer, device: DeviceClient) -> None:
    assert device.session.get(device.base_url + PATH, timeout=30).status_code == 401
    bad = device.session.get(device.base_url + PATH, headers={"Authorization": "Bearer nope"}, timeout=30)
    assert bad.status_code == 401
    with server.engine.begin() as conn:
        revoke_device(conn, device.device_id, server.clock())
    assert pull(device).status_code in (401, 403)


def test_the_venues_list_comes_with_its_etag(server: CentralServer, device: DeviceClient) -> None:
    add_groups(server)
    enrol(server, f"subject_key,groups\n{KEY},staff night\n")
    answer = pull(device)
    assert answer.status_code == 200 and answer.headers["ETag"].startswith('"')
    document = answer.json()
    assert (document["venue"], document["version"], document["timezone"]) == ("FACTORY-1", "2", "Asia/Ho_Chi_Minh")
    assert document["issued_at"] == "2026-12-06T08:00:00+00:00"
    ids = {g["name"]: g["id"] for g in document["groups"]}
    assert document["people"] == {KEY: sorted(ids.values())}
    night = next(g for g in document["groups"] if g["name"] == "night")
    assert night["windows"] == [{"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "24:00"}]
    assert night["gates"] == ["gate-1"]


def test_a_venue_with_no_list_gets_an_empty_one(device: DeviceClient) -> None:
    document = pull(device).json()
    assert (document["groups"], document["people"], document["version"]) == ([], {}, "0")


def test_the_list_is_gzip_compressed_for_a_device_that_accepts_it(server: CentralServer, device: DeviceClient) -> None:
    add_groups(server)
    enrol(server, "subject_key,groups\n" + "".join(f"{n:032x},staff\n" for n in range(2000)))
    compressed = pull(device, **{"Accept-Encoding": "gzip"})
    assert compressed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in compressed.headers["Vary"]
    raw = compressed.raw.read(decode_content=False)
    document = json.loads(gzip.decompress(raw))
    assert len(document["people"]) == 2000 and len(raw) < len(json.dumps(document)) / 1.5
    plain = pull(device, **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert json.loads(plain.raw.read(decode_content=False)) == document
    refused = pull(device, **{"Accept-Encoding": "gzip;q=0, deflate"})
    assert "Content-Encoding" not in refused.headers and refused.json() == document
    assert compressed.headers["ETag"] == plain.headers["ETag"]


def test_its_etag_gives_304_without_reading_the_people(server: CentralServer, device: DeviceClient) -> None:
    add_groups(server)
    enrol(server, f"subject_key,groups\n{KEY},staff\n")
    etag = pull(device).headers["ETag"]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(server.engine, "before_cursor_execute", seen)
    try:
        unchanged = pull(device, etag)
        also = pull(device, f'"other", {etag}')
    finally:
        event.remove(server.engine, "before_cursor_execute", seen)
    assert (unchanged.status_code, unchanged.headers["ETag"], unchanged.content) == (304, etag, b"")
    assert also.status_code == 304
    assert any("access_versions" in s for s in statements)
    assert not [s for s in statements if "access_people" in s or "access_members" in s or "access_groups" in s]


def test_a_change_of_the_list_changes_the_etag(server: CentralServer, device: DeviceClient) -> None:
    add_groups(server)
    first = pull(device)
    etag = first.headers["ETag"]
    enrol(server, f"subject_key,groups\n{KEY},staff\n")
    changed = pull(device, etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["people"] == {KEY: [next(g["id"] for g in first.json()["groups"] if g["name"] == "staff")]}
    assert pull(device, changed.headers["ETag"]).status_code == 304
    enrol(server, "subject_key,groups\n", replace=True)
    emptied = pull(device, changed.headers["ETag"])
    assert emptied.status_code == 200 and emptied.json()["people"] == {}


def test_a_device_gets_its_own_venues_list_only(server: CentralServer, device: DeviceClient) -> None:
    add_groups(server)
    enrol(server, f"subject_key,groups\n{KEY},staff\n")
    with enrolled_device(server, "FACTORY-2", name="other") as other:
        theirs = pull(other)
        assert theirs.status_code == 200
        assert (theirs.json()["venue"], theirs.json()["groups"], theirs.json()["people"]) == ("FACTORY-2", [], {})
        add_groups(server, "FACTORY-2")
        assert pull(device, pull(device).headers["ETag"]).status_code == 304  # another venue's change: not ours
