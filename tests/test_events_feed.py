"""The pull feed, `GET /api/v1/events?after=<cursor>&limit=N` (docs/feeds.md), through a real server on loopback:
paging in ingest order, resuming from a cursor, scopes (a unit's subtree, one venue), clear 4xx JSON errors for
bad cursors, limits and tokens, and nothing in it but subject keys and derived fields. On PostgreSQL, a page never
runs past an upload still being committed (a consumer would otherwise skip it for ever)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from central_fixtures import CentralServer, FakeClock, add_unit, add_venue, device_time, make_events, new_enroll_code
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine

from central.devices import Device, enroll
from central.feed.clients import add_client, revoke_client
from central.feed.payload import FIELDS
from central.feed.scope import parse_scope
from central.ingest import ingest
from central.models import DeviceTime, EventIn

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RAW_IDENTITY = "001099012345"


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(START)) as running:
        yield running


def places(engine: Engine) -> dict[str, Device]:
    add_unit(engine, "HN")
    add_unit(engine, "HN-BD", parent="HN")
    add_unit(engine, "HCM")
    devices = {}
    for venue, unit in (("V1", "HN-BD"), ("V2", "HN"), ("V3", "HCM")):
        add_venue(engine, venue, unit)
        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        with engine.begin() as conn:
            code = new_enroll_code(engine, venue)
            devices[venue] = enroll(conn, code, base64.b64encode(raw).decode(), f"gate-{venue}", datetime.now(UTC))
    return devices


def upload(engine: Engine, device: Device, count: int) -> list[str]:
    batch = [EventIn.model_validate(e) for e in make_events(count)]
    with engine.begin() as conn:
        return ingest(conn, device, DeviceTime.model_validate(device_time()), batch, START)


def token(engine: Engine, name: str, *, unit: str | None = None, venue: str | None = None) -> str:
    with engine.begin() as conn:
        return add_client(conn, name, parse_scope(conn, unit, venue), START)


def feed(server: CentralServer, tok: str | None, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    return requests.get(server.url + "/api/v1/events", params=params, headers=headers, timeout=30)


def read_all(server: CentralServer, tok: str, after: str = "", limit: int = 7) -> tuple[list[dict[str, Any]], str]:
    found: list[dict[str, Any]] = []
    for _ in range(1000):
        answer = feed(server, tok, after=after, limit=limit)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["events"]) <= limit
        found += page["events"]
        after = page["next_cursor"]
        if not page["more"]:
            return found, after
    raise AssertionError("the feed never ended")


def test_paging_in_ingest_order_and_resuming_from_the_cursor(server: CentralServer) -> None:
    devices = places(server.engine)
    expected = upload(server.engine, devices["V1"], 20) + upload(server.engine, devices["V2"], 9)
    expected += upload(server.engine, devices["V1"], 3)
    everyone = token(server.engine, "all-hn", unit="HN")
    found, cursor = read_all(server, everyone)
    assert [e["event_id"] for e in found] == expected  # ingest order, each once
    again = feed(server, everyone, after=cursor).json()
    assert again == {"events": [], "next_cursor": cursor, "more": False}  # nothing new: the same cursor

    later = upload(server.engine, devices["V2"], 12)  # the consumer was away; it resumes where it stopped
    resumed, _ = read_all(server, everyone, after=cursor, limit=5)
    assert [e["event_id"] for e in resumed] == later
    middle = feed(server, everyone, limit=10).json()["next_cursor"]
    assert [e["event_id"] for e in read_all(server, everyone, after=middle)[0]] == (expected + later)[10:]
    for event in found:
        assert set(event) == set(FIELDS) and event["unit"] in ("HN", "HN-BD")


def test_scopes_a_venue_token_sees_only_its_venue_and_a_unit_its_subtree(server: CentralServer) -> None:
    devices = places(server.engine)
    v1 = upload(server.engine, devices["V1"], 5)
    v2 = upload(server.engine, devices["V2"], 4)
    v3 = upload(server.engine, devices["V3"], 6)
    assert [e["event_id"] for e in read_all(server, token(server.engine, "v3", venue="V3"))[0]] == v3
    assert [e["event_id"] for e in read_all(server, token(server.engine, "v1", venue="V1"))[0]] == v1
    assert [e["event_id"] for e in read_all(server, token(server.engine, "bd", unit="HN-BD"))[0]] == v1
    assert [e["event_id"] for e in read_all(server, token(server.engine, "hn", unit="HN"))[0]] == v1 + v2
    hcm = read_all(server, token(server.engine, "hcm", unit="HCM"))[0]
    assert {e["venue"] for e in hcm} == {"V3"}


def test_bad_cursors_limits_and_tokens_get_clear_json_errors(server: CentralServer) -> None:
    devices = places(server.engine)
    upload(server.engine, devices["V1"], 3)
    good = token(server.engine, "v1", venue="V1")
    for cursor in (
        "nonsense!",
        base64.urlsafe_b64encode(b"v1:1:x").decode(),
        base64.urlsafe_b64encode(b"v1:-1:3").decode(),
        "A" * 129,
        "djI6MDow",
    ):
        answer = feed(server, good, after=cursor)
        assert answer.status_code in (400, 422), (cursor, answer.text)
        assert "after" in json.dumps(answer.json()["detail"])
    for limit in ("0", "1001", "many", "-5"):
        answer = feed(server, good, limit=limit)
        assert answer.status_code == 422 and "limit" in json.dumps(answer.json()["detail"])
    for tok, says in ((None, "missing bearer token"), ("kcf_wrong", "unknown or revoked")):
        answer = feed(server, tok)
        assert answer.status_code == 401 and says in answer.json()["detail"]
    with server.engine.begin() as conn:
        revoke_client(conn, "v1", START)
    answer = feed(server, good)
    assert answer.status_code == 401 and "revoked" in answer.json()["detail"]
    assert "Traceback" not in answer.text


def test_nothing_but_subject_keys_and_derived_fields_leaves(server: CentralServer) -> None:
    from central_fixtures import SECRET

    from kiosk.credentials import SubjectKeyer
    from kiosk.credentials.base import Identity
    from kiosk.credentials.fields import identity_for_number

    devices = places(server.engine)
    known = identity_for_number(RAW_IDENTITY)
    assert known is not None
    key = SubjectKeyer(SECRET).key(Identity(*known))
    batch = [EventIn.model_validate(e) for e in make_events(3, subject_key=key)]
    with server.engine.begin() as conn:
        ingest(conn, devices["V1"], DeviceTime.model_validate(device_time()), batch, START)
    answer = feed(server, token(server.engine, "v1", venue="V1"))
    assert answer.status_code == 200
    assert RAW_IDENTITY not in answer.text and "boot_id" not in answer.text and "latency" not in answer.text
    assert {e["subject_key"] for e in answer.json()["events"]} == {key}


def test_the_command_adds_lists_and_revokes_clients_showing_the_token_once(server: CentralServer) -> None:
    from click.testing import CliRunner

    from central.cli import cli

    places(server.engine)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--db", server.db_url, *args], catch_exceptions=False)

    added = run("feed-client", "add", "bd", "--unit", "HN-BD")
    assert added.exit_code == 0, added.output
    tok = added.output.strip().splitlines()[-1]
    assert tok.startswith("kcf_") and feed(server, tok).status_code == 200
    listed = run("feed-client", "list")
    assert "bd  unit HN-BD  active" in listed.output and tok not in listed.output
    assert run("feed-client", "add", "bd", "--venue", "V1").exit_code == 1
    assert "no venue NOPE" in run("feed-client", "add", "x", "--venue", "NOPE").output
    assert run("feed-client", "revoke", "bd").exit_code == 0
    assert feed(server, tok).status_code == 401
    assert "revoked" in run("feed-client", "list").output


def test_a_page_never_runs_past_an_upload_still_committing_on_postgresql(server: CentralServer) -> None:
    if server.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers take turns: numbers commit in order")
    devices = places(server.engine)
    tok = token(server.engine, "hn", unit="HN")
    slow = server.engine.connect()
    slow_tx = slow.begin()
    batch = [EventIn.model_validate(e) for e in make_events(2)]
    slow_ids = ingest(slow, devices["V2"], DeviceTime.model_validate(device_time()), batch, START)  # not committed
    fast_ids = upload(server.engine, devices["V1"], 3)  # another gate's: numbered after, committed first
    page = feed(server, tok).json()
    assert page["events"] == []  # held back: the slow upload may still commit below it
    slow_tx.commit()
    slow.close()
    found, _ = read_all(server, tok, after=page["next_cursor"])
    assert sorted(e["event_id"] for e in found) == sorted(slow_ids + fast_ids)
