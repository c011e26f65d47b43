"""The central API over real HTTP on loopback (docs/sync-protocol.md), on SQLite and on PostgreSQL.

Each test gets a fresh database (`db_url`), a server whose clock the test moves (`FakeClock`), and devices that
enrol and sign challenges with their own Ed25519 keys, as kiosks do.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from central_fixtures import (
    SECRET,
    CentralServer,
    DeviceClient,
    FakeClock,
    device_time,
    enrolled_device,
    make_event,
    make_events,
    new_enroll_code,
    setup_venue,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from central.admin import revoke_device
from central.schema import devices, enroll_codes, event_keys, events, venues

MiB = 1024 * 1024


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server(db_url: str, clock: FakeClock) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=clock) as central:
        yield central


@pytest.fixture
def device(server: CentralServer) -> Iterator[DeviceClient]:
    with enrolled_device(server) as client:
        yield client


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def stored(engine: Engine) -> dict[str, Any]:
    """The events table, by event id."""
    with engine.connect() as conn:
        return {row.event_id: row for row in conn.execute(select(events))}


def device_row(engine: Engine, device_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(devices).where(devices.c.id == device_id)).one()


def revoke(server: CentralServer, device_id: str) -> None:
    with server.engine.begin() as conn:
        revoke_device(conn, device_id, server.clock())


def ids(batch: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in batch]


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# Enrolment


def test_enrolment_answers_201_with_the_device_its_venue_the_secret_and_a_config(server: CentralServer) -> None:
    code = setup_venue(server.engine, "V1")
    with DeviceClient(server.url) as kiosk:
        answer = kiosk.enroll(code)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["venue"] == "V1"
        assert body["subject_key_secret"] == SECRET.hex()
        assert body["config"]["device"] == {"id": body["device_id"], "venue": "V1"}
        row = device_row(server.engine, body["device_id"])
        assert base64.b64encode(bytes(row.public_key)).decode() == kiosk.public_key
        assert row.name == "test-gate" and row.revoked_at is None
        health = kiosk.session.get(server.url + "/healthz", timeout=10).json()
        assert health["ok"] and health["database"] == server.engine.dialect.name


def test_an_enrolment_code_works_once(server: CentralServer) -> None:
    code = setup_venue(server.engine, "V1")
    with DeviceClient(server.url) as first, DeviceClient(server.url) as second:
        assert first.enroll(code).status_code == 201
        again = second.enroll(code)
        assert again.status_code == 403
        assert "already used" in again.json()["detail"]
    assert count(server.engine, devices) == 1
    with server.engine.connect() as conn:
        used = conn.execute(select(enroll_codes.c.used_at, enroll_codes.c.device_id)).one()
    assert used.used_at is not None and used.device_id == first.device_id


def test_an_enrolment_code_expires_after_24_hours_by_the_servers_clock(server: CentralServer, clock: FakeClock) -> None:
    setup_venue(server.engine, "V1")
    early, late = new_enroll_code(server.engine, "V1", clock()), new_enroll_code(server.engine, "V1", clock())
    clock.advance(timedelta(hours=24).total_seconds() - 1)
    with DeviceClient(server.url) as kiosk:
        assert kiosk.enroll(early).status_code == 201
    clock.advance(2)
    with DeviceClient(server.url) as kiosk:
        assert kiosk.enroll(late).status_code == 403


def test_an_unknown_enrolment_code_is_refused(server: CentralServer) -> None:
    setup_venue(server.engine, "V1")
    with DeviceClient(server.url) as kiosk:
        assert kiosk.enroll("ZZZZZZZZZZZZ").status_code == 403
    assert count(server.engine, devices) == 0


@pytest.mark.parametrize(
    "public_key",
    [
        "this is not base64 at all, is it? no, it is not",
        base64.b64encode(b"\x01" * 31).decode(),  # too short for Ed25519
        base64.b64encode(b"\x01" * 33).decode(),  # too long
        base64.b64encode(b"\x01" * 16).decode(),  # too short for the schema
    ],
    ids=["not-base64", "31-bytes", "33-bytes", "16-bytes"],
)
def test_a_bad_public_key_is_refused_and_the_code_stays_usable(server: CentralServer, public_key: str) -> None:
    code = setup_venue(server.engine, "V1")
    with DeviceClient(server.url) as kiosk:
        refused = kiosk.enroll(code, public_key=public_key)
        assert 400 <= refused.status_code < 500, refused.text
        assert kiosk.enroll(code).status_code == 201


# Challenge and token


def test_a_signed_challenge_gives_a_token_that_works(server: CentralServer) -> None:
    with enrolled_device(server) as kiosk:
        for _ in range(40):  # a token right after its challenge: the nonce was committed before it was answered
            kiosk.authenticate()
            assert kiosk.config().status_code == 200


def test_a_wrong_signature_is_refused(device: DeviceClient) -> None:
    nonce = device.challenge().json()["nonce"]
    other_key = Ed25519PrivateKey.generate()
    forged = base64.b64encode(other_key.sign(b"kiosk-auth-v1\n" + device.device_id.encode() + b"\n" + nonce.encode()))
    assert device.request_token(nonce, forged.decode()).status_code == 403
    wrong_message = base64.b64encode(device.key.sign(nonce.encode())).decode()
    assert device.request_token(nonce, wrong_message).status_code == 403
    assert device.request_token(nonce, "c2hvcnQgc2lnbmF0dXJl").status_code == 403  # base64, not 64 bytes


def test_a_refused_signature_uses_the_nonce_up(device: DeviceClient) -> None:
    nonce = device.challenge().json()["nonce"]
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(nonce.encode())).decode()
    assert device.request_token(nonce, forged).status_code == 403
    assert device.request_token(nonce, device.sign(nonce)).status_code == 403  # no second try with the same nonce


def test_a_nonce_works_once(device: DeviceClient) -> None:
    nonce = device.challenge().json()["nonce"]
    signature = device.sign(nonce)
    assert device.request_token(nonce, signature).status_code == 200
    replayed = device.request_token(nonce, signature)
    assert replayed.status_code == 403
    assert "nonce" in replayed.json()["detail"]


def test_a_nonce_is_bound_to_the_device_it_was_given_to(server: CentralServer, device: DeviceClient) -> None:
    with enrolled_device(server, name="other-gate") as other:
        nonce = device.challenge().json()["nonce"]
        assert other.request_token(nonce).status_code == 403


def test_a_nonce_expires_after_60_seconds_by_the_servers_clock(device: DeviceClient, clock: FakeClock) -> None:
    fresh = device.challenge().json()["nonce"]
    clock.advance(59)
    assert device.request_token(fresh).status_code == 200
    stale = device.challenge().json()["nonce"]
    clock.advance(61)
    assert device.request_token(stale).status_code == 403


def test_a_revoked_device_is_refused_at_challenge_and_with_a_token_it_holds(
    server: CentralServer, device: DeviceClient
) -> None:
    nonce = device.challenge().json()["nonce"]
    revoke(server, device.device_id)
    assert device.challenge().status_code == 403
    assert device.request_token(nonce).status_code == 403
    assert device.config().status_code == 403
    assert device.heartbeat({"backlog": 1}).status_code == 403
    refused = device.upload(make_events(3))
    assert refused.status_code == 403
    assert "revoked" in refused.json()["detail"]
    assert count(server.engine, events) == 0
    assert count(server.engine, event_keys) == 0


def test_an_unknown_device_is_refused(device: DeviceClient) -> None:
    stranger = str(uuid.uuid4())
    assert device.challenge(stranger).status_code == 403
    nonce = device.challenge().json()["nonce"]
    assert device.request_token(nonce, device.sign(nonce, stranger), stranger).status_code == 403


# Bearer tokens


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer garbage",
        "Bearer ",
        "Basic a2lvc2s6a2lvc2s=",
        "Bearer " + base64.urlsafe_b64encode(b"x" * 32).decode(),
    ],
    ids=["missing", "garbage", "empty", "basic", "unknown"],
)
def test_calls_without_a_valid_bearer_token_get_401(device: DeviceClient, authorization: str | None) -> None:
    device.token = ""
    headers = {"Authorization": authorization} if authorization else {}
    url = device.base_url + "/api/v1"
    answers = [
        device.session.get(url + "/config", headers=headers, timeout=10),
        device.session.post(url + "/heartbeat", json={"backlog": 0}, headers=headers, timeout=10),
        device.session.post(
            url + "/events", json={"device_time": device_time(), "events": []}, headers=headers, timeout=10
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all("authenticate" in a.json()["detail"] for a in answers)


def test_a_token_expires_after_15_minutes_by_the_servers_clock(device: DeviceClient, clock: FakeClock) -> None:
    clock.advance(15 * 60 - 1)
    assert device.config().status_code == 200
    clock.advance(2)
    assert device.config().status_code == 401
    assert device.upload(make_events(1)).status_code == 401
    device.authenticate()
    assert device.upload(make_events(1)).status_code == 200


# Upload


def test_new_events_are_held_and_stored(server: CentralServer, device: DeviceClient) -> None:
    batch = make_events(3)
    answer = device.upload(batch)
    assert answer.status_code == 200, answer.text
    assert answer.json()["held"] == ids(batch)
    assert answer.json()["server_time"] == server.clock().isoformat()
    rows = stored(server.engine)
    assert sorted(rows) == sorted(ids(batch))
    first = rows[batch[0]["event_id"]]
    assert (first.direction, first.kind, first.subject_key) == ("in", "cccd", batch[0]["subject_key"])
    assert (first.decision, first.reason, first.decoder, first.seq) == ("ACCEPT", "logged", "zxing", 1)
    assert count(server.engine, event_keys) == 3


def test_sequence_numbers_up_to_the_apis_bound_are_stored(server: CentralServer, device: DeviceClient) -> None:
    """After a salvage a kiosk numbers on past its monotonic clock in microseconds (kiosk/store/salvage.py): past
    2**31 within the hour. PostgreSQL's INTEGER made such an upload a server error, retried for ever."""
    batch = [make_event(seq=2**31 + 7), make_event(seq=3_600_000_001), make_event(seq=2**62)]
    answer = device.upload(batch)
    assert answer.status_code == 200, answer.text
    assert sorted(row.seq for row in stored(server.engine).values()) == [2**31 + 7, 3_600_000_001, 2**62]


def test_the_same_batch_again_is_held_and_not_stored_twice(server: CentralServer, device: DeviceClient) -> None:
    batch = make_events(5)
    first, again = device.upload(batch), device.upload(batch)
    assert first.json()["held"] == again.json()["held"] == ids(batch)
    assert count(server.engine, events) == count(server.engine, event_keys) == 5


def test_a_partly_overlapping_batch_stores_only_the_new_events(server: CentralServer, device: DeviceClient) -> None:
    batch = make_events(6)
    assert device.upload(batch[:4]).json()["held"] == ids(batch[:4])
    assert device.upload(batch[2:]).json()["held"] == ids(batch[2:])
    assert sorted(stored(server.engine)) == sorted(ids(batch))


def test_duplicate_ids_within_a_batch_are_stored_once(server: CentralServer, device: DeviceClient) -> None:
    a, b = make_events(2)
    changed = {**a, "direction": "out"}  # same id, different content: the first one wins
    answer = device.upload([a, b, a, changed])
    assert answer.status_code == 200, answer.text
    assert answer.json()["held"] == [a["event_id"], b["event_id"]]
    rows = stored(server.engine)
    assert len(rows) == 2 and rows[a["event_id"]].direction == "in"


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_a_batch_of_500_is_accepted_gzip_or_not(server: CentralServer, device: DeviceClient, compress: bool) -> None:
    batch = make_events(500)
    answer = device.upload(batch, compress=compress)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["held"]) == 500
    assert count(server.engine, events) == 500


def test_501_events_are_refused_with_413(server: CentralServer, device: DeviceClient) -> None:
    answer = device.upload(make_events(501))
    assert answer.status_code == 413
    assert "500" in answer.json()["detail"]
    assert count(server.engine, events) == 0


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "plain"])
def test_a_body_over_2_mib_is_refused_with_413(server: CentralServer, device: DeviceClient, compress: bool) -> None:
    # Few events, each with a large field the centre ignores: over 2 MiB once inflated, however small when gzipped.
    batch = make_events(3, note="x" * MiB)
    answer = device.upload(batch, compress=compress)
    assert answer.status_code == 413, answer.text
    assert count(server.engine, events) == 0


@pytest.mark.parametrize(
    ("body", "gzipped", "detail"),
    [
        (b'{"device_time": {}, "events": []}', True, "gzip"),  # says gzip, is not
        (b"\x1f\x8b\x08\x00 truncated", True, "gzip"),
        (gzip.compress(json.dumps({"device_time": device_time(), "events": []}).encode())[:-8], True, "truncated"),
        (b"device_time=1&events=2", False, "not JSON"),
        (gzip.compress(b"<events/>"), True, "not JSON"),
        (b"\xff\xfe{}", False, "not JSON"),
    ],
    ids=["not-gzip", "broken-gzip", "no-gzip-trailer", "form", "gzipped-xml", "not-utf8"],
)
def test_an_unreadable_body_is_refused_with_400(device: DeviceClient, body: bytes, gzipped: bool, detail: str) -> None:
    answer = device.upload_raw(body, gzipped=gzipped)
    assert answer.status_code == 400
    assert detail in answer.json()["detail"]


def _set(path: str, value: Any) -> Any:
    """A change to an upload body: `path` like "events.1.direction" set to `value` (or removed if None)."""

    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_set("events.1.direction", "sideways"), "events.1.direction"),
        (_set("events.1.event_id", None), "events.1.event_id"),
        (_set("events.0.event_id", "not-a-uuid"), "events.0.event_id"),
        (_set("events.1.seq", 0), "events.1.seq"),
        (_set("events.1.decision", "MAYBE"), "events.1.decision"),
        (_set("events.1.subject_key", "NOT-HEX"), "events.1.subject_key"),
        (_set("events.1.wall_time", float("nan")), "events.1.wall_time"),
        (_set("events.1.latency_ms", -1), "events.1.latency_ms"),
        (_set("device_time.boot_id", ""), "device_time.boot_id"),
        (_set("device_time", None), "device_time"),
        (_set("surprise", 1), "surprise"),
        (_set("events", {"not": "a list"}), "events"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_malformed_batch_is_refused_with_422_naming_the_field(
    server: CentralServer, device: DeviceClient, change: Any, path: str
) -> None:
    body = {"device_time": device_time(), "events": make_events(2)}
    change(body)
    answer = device.upload_raw(json.dumps(body).encode())
    assert answer.status_code == 422, answer.text
    assert path in answer.json()["detail"]
    assert count(server.engine, events) == 0


# Time and identity


def test_each_event_gets_a_corrected_time(server: CentralServer, device: DeviceClient, clock: FakeClock) -> None:
    now = clock().timestamp()
    offset = 3600.0  # the device's wall clock is an hour behind the server's
    sender = device_time(wall=now - offset, mono=5000.0, boot_id="boot-2", synced=False)
    synced = make_event(boot_id="boot-1", clock_synced=True, wall_time=now - 7200.5, mono_time=40.0)
    same_boot = make_event(boot_id="boot-2", clock_synced=False, wall_time=12.0, mono_time=4900.25)
    earlier_boot = make_event(boot_id="boot-1", clock_synced=False, wall_time=now - offset - 86400.0, mono_time=3.0)
    assert device.upload([synced, same_boot, earlier_boot], clock=sender).status_code == 200
    rows = stored(server.engine)

    expected = [
        (synced, now - 7200.5, True),  # its own wall time
        (same_boot, now - 99.75, True),  # received - (device_time.mono - mono_time)
        (earlier_boot, now - 86400.0, False),  # wall time + the device's offset
    ]
    for event, time, time_synced in expected:
        row = rows[event["event_id"]]
        assert aware(row.time).timestamp() == pytest.approx(time, abs=1e-3)
        assert row.time_synced is time_synced
    assert rows[synced["event_id"]].wall_time == pytest.approx(now - 7200.5)  # what the device said is kept too
    assert device_row(server.engine, device.device_id).clock_offset_s == pytest.approx(offset, abs=1e-3)


def test_the_device_and_venue_come_from_the_token_not_the_body(server: CentralServer, device: DeviceClient) -> None:
    setup_venue(server.engine, "V2")
    with enrolled_device(server, "V2", name="gate-v2") as other:
        claims = {"device_id": other.device_id, "venue": "V2"}  # a kiosk may keep these; the centre ignores them
        mine, theirs = make_events(2, **claims), make_events(1)
        assert device.upload(mine).status_code == 200
        assert other.upload(theirs).status_code == 200
    with server.engine.connect() as conn:
        venue_ids = dict(conn.execute(select(venues.c.code, venues.c.id)).all())
    rows = stored(server.engine)
    assert {(rows[i].device_id, rows[i].venue_id) for i in ids(mine)} == {(device.device_id, venue_ids["V1"])}
    assert {(rows[i].device_id, rows[i].venue_id) for i in ids(theirs)} == {(other.device_id, venue_ids["V2"])}


# Configuration and heartbeat


def test_config_answers_304_for_its_etag_until_the_status_list_changes(
    server: CentralServer, device: DeviceClient
) -> None:
    first = device.config()
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag == f'"{first.json()["version"]}"'
    assert first.json()["device"] == {"id": device.device_id, "venue": "V1"}
    served = datetime.fromisoformat(first.json()["trust_list"]["issued_at"])
    assert abs(served - datetime.now(UTC)) < timedelta(minutes=1)  # when served: the version leaves it out
    unchanged = device.config(etag)
    assert unchanged.status_code == 304 and unchanged.headers["ETag"] == etag
    assert device.config(f'"other", {etag}').status_code == 304
    key = "0123456789abcdef0123456789abcdef"
    cli = [sys.executable, "-m", "central", "--db", server.db_url, "status", "set", "--subject-key", key]
    subprocess.run([*cli, "--status", "red"], check=True, capture_output=True, timeout=60)
    changed = device.config(etag)
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["status_list_version"] == first.json()["status_list_version"] + 1
    assert device.config(changed.headers["ETag"]).status_code == 304


def test_the_status_list_comes_whole_then_as_changes(server: CentralServer, device: DeviceClient) -> None:
    keys = [f"{n:032x}" for n in range(3)]
    for key in keys:
        status_cli(server, "set", "--subject-key", key, "--status", "red")
    whole = device.get("/api/v1/status-list").json()
    assert (whole["full"], whole["version"], whole["cleared"]) == (True, 3, [])
    assert [e["subject_key"] for e in whole["entries"]] == keys
    status_cli(server, "clear", keys[0])
    status_cli(server, "set", "--subject-key", keys[1], "--status", "yellow")
    changes = device.get("/api/v1/status-list", params={"since": 3}).json()
    assert (changes["full"], changes["version"], changes["cleared"]) == (False, 5, [keys[0]])
    assert changes["entries"] == [{"subject_key": keys[1], "status": "yellow"}]  # only what changed after 3
    assert device.get("/api/v1/status-list", params={"since": 5}).json()["entries"] == []
    assert device.get("/api/v1/status-list", params={"since": -1}).status_code == 422
    assert sorted(e["subject_key"] for e in device.get("/api/v1/status-list").json()["entries"]) == keys[1:]


def status_cli(server: CentralServer, *args: str) -> None:
    cli = [sys.executable, "-m", "central", "--db", server.db_url, "status", *args]
    subprocess.run(cli, check=True, capture_output=True, timeout=60)


def test_a_heartbeat_is_kept_on_the_device_row(server: CentralServer, device: DeviceClient, clock: FakeClock) -> None:
    clock.advance(30)
    beat = {"backlog": 12, "oldest_unsent_age_s": 40.5, "quarantined": 0, "fps": 14.8, "decisions": {"ACCEPT": 3}}
    beat |= {"disk_free_mb": 2048, "clock_synced": False, "version": "0.1.0", "boot_id": "boot-1", "uptime_s": 99.0}
    assert device.heartbeat(beat).status_code == 204
    row = device_row(server.engine, device.device_id)
    assert row.last_heartbeat == {**beat, "received_at": clock().isoformat()}
    assert aware(row.last_seen_at) == clock()
    assert device.heartbeat({"backlog": -1}).status_code == 422


# Exactly once


def test_concurrent_uploaders_resending_overlapping_batches_store_each_event_once(server: CentralServer) -> None:
    """Eight kiosks, each on two connections at once (a retry while the first request hangs), each sending
    overlapping windows of its events twice, in opposite orders."""
    kiosks = [enrolled_device(server, name=f"gate-{n}") for n in range(8)]
    backlogs = {k.device_id: make_events(300) for k in kiosks}
    windows = [(start, start + 100) for start in range(0, 201, 50)]
    failures: list[str] = []
    lock = threading.Lock()

    def send(kiosk: DeviceClient, reverse: bool) -> None:
        backlog = backlogs[kiosk.device_id]
        for start, end in reversed(windows) if reverse else windows:
            for _ in range(2):
                answer = kiosk.upload(backlog[start:end])
                if answer.status_code != 200 or answer.json()["held"] != ids(backlog[start:end]):
                    with lock:
                        failures.append(f"{kiosk.device_id} [{start}:{end}]: {answer.status_code} {answer.text[:200]}")

    connections = [(k, False) for k in kiosks] + [(k.twin(), True) for k in kiosks]
    try:
        with ThreadPoolExecutor(len(connections)) as pool:
            list(pool.map(lambda c: send(*c), connections))
    finally:
        for kiosk, _ in connections:
            kiosk.close()
    assert failures == []
    distinct = {i for backlog in backlogs.values() for i in ids(backlog)}
    assert count(server.engine, events) == len(distinct) == 8 * 300
    assert count(server.engine, event_keys) == len(distinct)
    assert set(stored(server.engine)) == distinct
