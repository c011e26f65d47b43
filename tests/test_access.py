"""Access (issue 8, item 8): hostile, stale and borrowed requests to the kiosk API are all refused, and write
nothing; per-device and per-address request limits; on SQLite and on PostgreSQL.

The table below is sent to a real central server on loopback holding real devices: one at venue V1 with a fresh
token, one at V2, one revoked while its token was still valid, one whose token has expired. Every row is one
hostile request (the legitimate setup some rows need, such as a fresh challenge, is not counted) with the status
it must get; after each, the events, their ids, the devices, the tokens and the enrolment codes must be as before.
tests/test_central_api.py holds the protocol's own tests (a nonce works once, a token expires after 15 minutes);
this file is the whole list of ways in, counted for BENCHMARKS.md.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from central_fixtures import (
    CentralServer,
    DeviceClient,
    FakeClock,
    device_time,
    enrolled_device,
    kiosk_central_serve,
    make_events,
    new_enroll_code,
    setup_venue,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, func, select

import central.api
from central.admin import CODE_ALPHABET, CODE_LENGTH, revoke_device
from central.db import connect
from central.ratelimit import Buckets, Limit, RateLimiter, TooManyRequests, limiter_from_env, parse_limit
from central.schema import auth_tokens, devices, enroll_codes, event_keys, events
from kiosk.clock import SystemClock
from kiosk.config import KioskConfig
from kiosk.events import Event
from kiosk.ids import uuid7
from kiosk.store import EventStore
from kiosk.sync.backoff import Backoff
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_key
from kiosk.sync.worker import SyncTimers, SyncWorker

MiB = 1024 * 1024
API = "/api/v1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@dataclass
class World:
    """The devices and leftovers a stranger, a stolen SD card or a replaying middlebox could hold."""

    server: CentralServer
    a: DeviceClient  # venue V1, fresh token
    b: DeviceClient  # venue V2, fresh token
    revoked: DeviceClient  # revoked while its token was valid
    expired_token: str
    used_code: str
    expired_code: str
    stale_nonce: str  # given to A more than 60 s ago
    used_nonce: str  # given to A, signed and exchanged for a token once
    used_signature: str
    revoked_nonce: str  # given to the revoked device before it was revoked

    def send(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> requests.Response:
        data = json.dumps(body).encode() if isinstance(body, dict | list) else body
        return self.a.session.request(method, self.a.base_url + path, headers=headers, data=data, timeout=30)

    def close(self) -> None:
        for client in (self.a, self.b, self.revoked):
            client.close()

    def nonce(self, device: DeviceClient | None = None) -> str:
        """A fresh challenge (legitimate setup, not a counted request)."""
        answer = (device or self.a).challenge()
        assert answer.status_code == 200, answer.text
        return str(answer.json()["nonce"])


def build_world(server: CentralServer, clock: FakeClock) -> World:
    a = enrolled_device(server, "V1", name="gate-a")
    expiring = enrolled_device(server, "V1", name="gate-e")
    stale_nonce = a.challenge().json()["nonce"]
    used_nonce = a.challenge().json()["nonce"]
    used_signature = a.sign(used_nonce)
    assert a.request_token(used_nonce, used_signature).status_code == 200
    used_code = new_enroll_code(server.engine, "V1", clock())
    with DeviceClient(server.url) as first:
        assert first.enroll(used_code).status_code == 201
    expiring.close()
    clock.advance(15 * 60 + 1)  # the first tokens and the stale nonce are past their time
    a.authenticate()
    b = enrolled_device(server, "V2", name="gate-b")
    revoked = enrolled_device(server, "V1", name="gate-r")
    revoked_nonce = revoked.challenge().json()["nonce"]
    with server.engine.begin() as conn:
        revoke_device(conn, revoked.device_id, clock())
    expired_code = new_enroll_code(server.engine, "V1", datetime.fromtimestamp(clock().timestamp() - 86401, UTC))
    return World(
        server, a, b, revoked, expiring.token, used_code, expired_code, stale_nonce, used_nonce, used_signature,
        revoked_nonce,
    )  # fmt: skip


def snapshot(world: World) -> dict[str, Any]:
    """What a refused request must leave as it was."""
    with world.server.engine.connect() as conn:
        counts = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (events, event_keys)}
        counts["tokens"] = conn.execute(select(func.count()).select_from(auth_tokens)).scalar_one()
        used = select(func.count()).where(enroll_codes.c.used_at.is_not(None))
        counts["codes used"] = conn.execute(used).scalar_one()
        columns = (devices.c.id, devices.c.last_seen_at, devices.c.last_heartbeat, devices.c.clock_offset_s)
        rows = conn.execute(select(*columns, devices.c.revoked_at).order_by(devices.c.id)).all()
    return {**counts, "devices": [tuple(row) for row in rows]}


# The table. A row: what it tries, how it is sent, the status it must get.

Send = Callable[[World], requests.Response]


@dataclass(frozen=True)
class Attempt:
    name: str
    send: Send
    status: int


def bearer(token: Callable[[World], str]) -> Callable[[World], dict[str, str]]:
    return lambda w: {"Authorization": f"Bearer {token(w)}"}


TOKENS: list[tuple[str, Callable[[World], dict[str, str]], int]] = [
    ("no token", lambda w: {}, 401),
    ("empty bearer", lambda w: {"Authorization": "Bearer "}, 401),
    ("basic credentials", lambda w: {"Authorization": "Basic a2lvc2s6a2lvc2s="}, 401),
    ("garbage token", bearer(lambda w: "garbage"), 401),
    ("truncated token", bearer(lambda w: w.a.token[:-1]), 401),
    ("extended token", bearer(lambda w: w.a.token + "A"), 401),
    ("token hash from a database dump", bearer(lambda w: hashlib.sha256(w.a.token.encode()).hexdigest()), 401),
    ("nonce as token", bearer(lambda w: w.used_nonce), 401),
    ("8 KiB token", bearer(lambda w: "A" * 8192), 401),
    ("expired token", bearer(lambda w: w.expired_token), 401),
    ("revoked device's token", bearer(lambda w: w.revoked.token), 403),
]


def _batch() -> bytes:
    return gzip.compress(json.dumps({"device_time": device_time(), "events": make_events(3)}).encode())


ENDPOINTS: list[tuple[str, Callable[[World, dict[str, str]], requests.Response]]] = [
    (
        "events",
        lambda w, h: w.send(
            "POST", f"{API}/events", {**h, "Content-Type": "application/json", "Content-Encoding": "gzip"}, _batch()
        ),
    ),
    ("config", lambda w, h: w.send("GET", f"{API}/config", h)),
    ("status-list", lambda w, h: w.send("GET", f"{API}/status-list?since=0", h)),
    (
        "heartbeat",
        lambda w, h: w.send("POST", f"{API}/heartbeat", {**h, "Content-Type": "application/json"}, {"backlog": 1}),
    ),
]


def _with_token(
    send: Callable[[World, dict[str, str]], requests.Response], headers: Callable[[World], dict[str, str]]
) -> Send:
    return lambda w: send(w, headers(w))


def _token(w: World, body: dict[str, Any]) -> requests.Response:
    return w.send("POST", f"{API}/auth/token", {"Content-Type": "application/json"}, body)


def _signed(key: Ed25519PrivateKey, device_id: str, nonce: str, context: bytes = b"kiosk-auth-v1") -> str:
    return base64.b64encode(key.sign(context + b"\n" + device_id.encode() + b"\n" + nonce.encode())).decode()


def _token_attempt(make: Callable[[World], dict[str, Any]]) -> Send:
    return lambda w: _token(w, make(w))


def _other_nonce(w: World) -> dict[str, Any]:
    signed, presented = w.nonce(), w.nonce()
    return {"device_id": w.a.device_id, "nonce": presented, "signature": w.a.sign(signed)}


def _b_nonce_signed_by_a(w: World) -> dict[str, Any]:
    nonce = w.nonce(w.b)
    return {"device_id": w.b.device_id, "nonce": nonce, "signature": _signed(w.a.key, w.b.device_id, nonce)}


def _b_nonce_for_a(w: World) -> dict[str, Any]:
    nonce = w.nonce(w.b)
    return {"device_id": w.a.device_id, "nonce": nonce, "signature": w.a.sign(nonce)}


def _fresh(sign: Callable[[World, str], str]) -> Callable[[World], dict[str, Any]]:
    def make(w: World) -> dict[str, Any]:
        nonce = w.nonce()
        return {"device_id": w.a.device_id, "nonce": nonce, "signature": sign(w, nonce)}

    return make


def _asking(device: Callable[[World], DeviceClient], nonce: Callable[[World], str], signer: Any = None) -> Send:
    """A token request for `device`'s id with `nonce`, signed by `signer(w, nonce)` (default: that device)."""

    def make(w: World) -> dict[str, Any]:
        value = nonce(w)
        signature = signer(w, value) if signer else device(w).sign(value)
        return {"device_id": device(w).device_id, "nonce": value, "signature": signature}

    return _token_attempt(make)


def _a(w: World) -> DeviceClient:
    return w.a


def _stranger_key(w: World, nonce: str) -> str:
    return _signed(Ed25519PrivateKey.generate(), w.a.device_id, nonce)


def _old_context(w: World, nonce: str) -> str:
    return _signed(w.a.key, w.a.device_id, nonce, b"kiosk-auth-v0")


def _replayed(w: World) -> dict[str, Any]:
    return {"device_id": w.a.device_id, "nonce": w.used_nonce, "signature": w.used_signature}


def _unknown_device(w: World) -> dict[str, Any]:
    return {**_replayed(w), "device_id": "0f0e0d0c-0000-4000-8000-000000000000"}


AUTH: list[Attempt] = [
    Attempt("challenge: unknown device", lambda w: w.a.challenge("0f0e0d0c-0000-4000-8000-000000000000"), 403),
    Attempt("challenge: revoked device", lambda w: w.revoked.challenge(), 403),
    Attempt("challenge: no device id", lambda w: w.send("POST", f"{API}/auth/challenge", {}, {}), 422),
    Attempt("token: nonce replayed", _token_attempt(_replayed), 403),
    Attempt("token: signature over another nonce", _token_attempt(_other_nonce), 403),
    Attempt("token: stale nonce", _asking(_a, lambda w: w.stale_nonce), 403),
    Attempt("token: made-up nonce", _asking(_a, lambda w: "A" * 44), 403),
    Attempt("token: another device's nonce", _token_attempt(_b_nonce_for_a), 403),
    Attempt("token: another device's id, signed with own key", _token_attempt(_b_nonce_signed_by_a), 403),
    Attempt("token: signed by a stranger's key", _asking(_a, World.nonce, _stranger_key), 403),
    Attempt("token: signed without the context", _asking(_a, World.nonce, _old_context), 403),
    Attempt("token: signature not base64", _asking(_a, World.nonce, lambda w, n: "not base64 at all!"), 403),
    Attempt(
        "token: 63-byte signature", _asking(_a, World.nonce, lambda w, n: base64.b64encode(b"1" * 63).decode()), 403
    ),
    Attempt("token: revoked device's old nonce", _asking(lambda w: w.revoked, lambda w: w.revoked_nonce), 403),
    Attempt("token: unknown device", _token_attempt(_unknown_device), 403),
    Attempt("token: no signature", _token_attempt(lambda w: {"device_id": w.a.device_id, "nonce": w.nonce()}), 422),
]


def _enrol(code: Callable[[World], str], **extra: Any) -> Send:
    def send(w: World) -> requests.Response:
        with DeviceClient(w.server.url) as stranger:
            body = {"code": code(w), "public_key": stranger.public_key, "name": "stranger", **extra}
            return w.send("POST", f"{API}/enroll", {"Content-Type": "application/json"}, body)

    return send


_guesses = random.Random(8)
GUESSED = ["".join(_guesses.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH)) for _ in range(20)]
ENROL: list[Attempt] = [
    Attempt("enrol: code used already", _enrol(lambda w: w.used_code), 403),
    Attempt("enrol: code used already, in lower case", _enrol(lambda w: w.used_code.lower()), 403),
    Attempt("enrol: code expired", _enrol(lambda w: w.expired_code), 403),
    Attempt("enrol: code with an extra field", _enrol(lambda w: w.expired_code, device_id="mine"), 422),
    *(Attempt(f"enrol: guessed code {i + 1}", _enrol(lambda w, g=g: g), 403) for i, g in enumerate(GUESSED)),
]


def _upload(
    body: bytes | Iterator[bytes], content_type: str = "application/json", encoding: str | None = "gzip"
) -> Send:
    def send(w: World) -> requests.Response:
        headers = {
            **w.a.auth_header(),
            "Content-Type": content_type,
            **({"Content-Encoding": encoding} if encoding else {}),
        }
        return w.send("POST", f"{API}/events", headers, body)

    return send


def _json(events: list[dict[str, Any]] | Any, **clock: Any) -> bytes:
    body = {"device_time": device_time(**clock), "events": events} if isinstance(events, list) else events
    return json.dumps(body).encode()


def _flipped(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 65536):
        yield b" " * 65536


def _plain(w: World) -> dict[str, str]:
    return {**w.a.auth_header(), "Content-Type": "text/plain"}


JSON = {"Content-Type": "application/json"}
GOOD = _json(make_events(3))
TAMPERED: list[Attempt] = [
    Attempt("upload: says gzip, is plain", _upload(GOOD), 400),
    Attempt("upload: gzip with a flipped byte", _upload(_flipped(gzip.compress(GOOD))), 400),
    Attempt("upload: gzip cut short", _upload(gzip.compress(GOOD)[:-8]), 400),
    Attempt("upload: gzip bomb (64 MiB of zeros)", _upload(gzip.compress(b"0" * 64 * MiB, 9)), 413),
    Attempt("upload: 20 MiB plain body", _upload(b" " * 20 * MiB, encoding=None), 413),
    Attempt("upload: 4 MiB chunked, no length", lambda w: _upload(_chunks(4 * MiB), encoding=None)(w), 413),
    Attempt("upload: 501 events", _upload(gzip.compress(_json(make_events(501)))), 413),
    Attempt("upload: text/plain", _upload(gzip.compress(GOOD), "text/plain"), 415),
    Attempt("upload: a form", _upload(GOOD, "application/x-www-form-urlencoded", None), 415),
    Attempt("upload: a list, not an object", _upload(gzip.compress(b"[]")), 422),
    Attempt("upload: one event malformed", _upload(gzip.compress(_json([*make_events(2), {"event_id": "x"}]))), 422),
    Attempt("upload: a field of the wrong type", _upload(gzip.compress(_json(make_events(1, latency_ms="fast")))), 422),
    Attempt("upload: no device time", _upload(gzip.compress(json.dumps({"events": make_events(1)}).encode())), 422),
    Attempt("heartbeat: 100 KiB", lambda w: w.a.heartbeat({"backlog": 1, "padding": "x" * 100 * 1024}), 413),
    Attempt("heartbeat: text/plain", lambda w: w.send("POST", f"{API}/heartbeat", _plain(w), b'{"backlog": 1}'), 422),
    Attempt("heartbeat: negative backlog", lambda w: w.a.heartbeat({"backlog": -1}), 422),
    Attempt("enrol: 1 MiB body", lambda w: w.send("POST", f"{API}/enroll", JSON, {"code": "X" * MiB}), 413),
    Attempt(
        "challenge: 1 MiB chunked body", lambda w: w.send("POST", f"{API}/auth/challenge", JSON, _chunks(MiB)), 413
    ),
    Attempt("status-list: negative version", lambda w: w.a.get(f"{API}/status-list", params={"since": -1}), 422),
]

TABLE: list[Attempt] = [
    *(
        Attempt(f"{endpoint}: {token}", _with_token(send, headers), status)
        for endpoint, send in ENDPOINTS
        for token, headers, status in TOKENS
    ),
    *AUTH,
    *ENROL,
    *TAMPERED,
]


def test_every_hostile_request_is_refused_and_writes_nothing(
    db_url: str, clock: FakeClock, record_property: Callable[[str, object], None]
) -> None:
    with CentralServer(db_url, clock=clock) as server:
        world = build_world(server, clock)
        wrong: list[str] = []
        statuses: dict[int, int] = {}
        try:
            for attempt in TABLE:
                before = snapshot(world)
                answer = attempt.send(world)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code != attempt.status:
                    wrong.append(f"{attempt.name}: {answer.status_code} (wanted {attempt.status}) {answer.text[:120]}")
                if snapshot(world) != before:
                    wrong.append(f"{attempt.name}: wrote to the database")
            assert world.a.config().status_code == 200  # and the server still serves its devices
        finally:
            world.close()
        refused = sum(n for status, n in statuses.items() if 400 <= status < 500)
        summary = ", ".join(f"{n}× {status}" for status, n in sorted(statuses.items()))
        record_property("access", {"requests": len(TABLE), "refused": refused, "statuses": statuses})
        print(f"\naccess ({server.engine.dialect.name}): {len(TABLE)} hostile requests, {refused} refused: {summary}")
        assert wrong == [], "\n".join(wrong)
        assert refused == len(TABLE) >= 100


def test_events_claiming_another_device_or_venue_are_the_senders(db_url: str, clock: FakeClock) -> None:
    """A kiosk keeps device_id and venue in its rows (a re-enrolled kiosk sends its old ones): the centre ignores
    them, so a device's token can never put events under another device or venue."""
    with CentralServer(db_url, clock=clock) as server:
        world = build_world(server, clock)
        world.close()
        claims = [{"device_id": world.b.device_id, "venue": "V2"}, {"device_id": world.b.device_id}, {"venue": "V2"}]
        sent = [e for claim in claims for e in make_events(2, **claim)]
        assert world.a.upload(sent).status_code == 200
        with server.engine.connect() as conn:
            owners = set(conn.execute(select(events.c.device_id)).scalars())
            claimed = conn.execute(select(func.count()).where(events.c.device_id == world.b.device_id)).scalar_one()
        assert owners == {world.a.device_id} and claimed == 0


# Request limits


@contextmanager
def limited_server(
    db_url: str, clock: FakeClock, limits: RateLimiter, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CentralServer]:
    """CentralServer with request limits: the real app, made with `rate_limits` as `serve` makes it."""
    monkeypatch.setattr(central.api, "create_app", functools.partial(central.api.create_app, rate_limits=limits))
    with CentralServer(db_url, clock=clock) as server:
        yield server


class Ticks:
    """The limiter's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_device_over_its_limit_gets_429_with_retry_after_and_other_devices_do_not(
    db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = Ticks()
    limits = RateLimiter(Limit(rate=0.5, burst=4), None, clock=ticks)
    with limited_server(db_url, clock, limits, monkeypatch) as server:
        a, b = enrolled_device(server, "V1", name="a"), enrolled_device(server, "V1", name="b")
        assert [a.config().status_code for _ in range(3)] + [a.upload(make_events(2)).status_code] == [200] * 4
        over = [a.config(), a.upload(make_events(5)), a.heartbeat({"backlog": 5}), a.get(f"{API}/status-list")]
        assert [r.status_code for r in over] == [429] * 4
        assert {r.headers["Retry-After"] for r in over} == {"2"}  # one token every 2 s
        assert "too many requests" in over[0].json()["detail"]
        assert [b.config().status_code for _ in range(4)] == [200] * 4  # its own bucket
        with server.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 2  # the 429 wrote nothing
        ticks.now += 2
        assert a.upload(make_events(1)).status_code == 200
        assert a.config().status_code == 429
        assert limits.devices is not None and limits.devices.refused == 5


def test_enrolment_and_authentication_are_limited_per_address(
    db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = Ticks()
    limits = RateLimiter(None, Limit(rate=1.0, burst=8), clock=ticks)
    with limited_server(db_url, clock, limits, monkeypatch) as server:
        device = enrolled_device(server, "V1")  # enrol, challenge, token: 3
        guesses = [device.enroll(code).status_code for code in GUESSED[:5]]
        assert guesses == [403] * 5
        throttled = device.enroll(GUESSED[5])
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert device.challenge().status_code == 429
        assert device.config().status_code == 200  # a device with a token is not limited by its address
        ticks.now += 1
        assert device.challenge().status_code == 200


def _made_up_token_call(kiosk: DeviceClient, n: int) -> requests.Response:
    """Call n of a flood: each call that takes a token in turn, with a made-up token (every 5th with none)."""
    headers = {} if n % 5 == 4 else {"Authorization": f"Bearer {secrets.token_urlsafe(32)}"}
    calls = [
        ("POST", "events", {**JSON, "Content-Encoding": "gzip"}, _batch()),
        ("GET", "config", {}, None),
        ("GET", "status-list", {}, None),
        ("POST", "heartbeat", JSON, b'{"backlog": 1}'),
    ]
    method, path, more, body = calls[n % len(calls)]
    url = f"{kiosk.base_url}{API}/{path}"
    return kiosk.session.request(method, url, headers={**headers, **more}, data=body, timeout=30)


def test_a_flood_of_made_up_tokens_gets_429_before_any_lookup_and_the_kiosks_at_that_address_are_served(
    db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stranger behind a venue's address (its kiosks share it through NAT) sends made-up tokens, or none, to
    every call that takes one. Within the address's burst each costs one lookup and gets 401; then 429 with
    Retry-After, before any SQL. A kiosk whose token was found good is still served from that address; its own
    expired token reaches the lookup (401, so it renews) instead of a 429, and the renewal waits for a refill."""
    ticks = Ticks()
    limits = RateLimiter(None, Limit(rate=1.0, burst=12), clock=ticks)
    with limited_server(db_url, clock, limits, monkeypatch) as server:
        kiosk = enrolled_device(server, "V1")  # enrol, challenge, token: 3 of the address's 12
        with DeviceClient(server.url) as stranger:
            assert [_made_up_token_call(stranger, n).status_code for n in range(9)] == [401] * 9
            statements: list[str] = []

            def executed(*args: Any) -> None:  # (connection, cursor, statement, ...)
                statements.append(args[2])

            event.listen(server.engine, "before_cursor_execute", executed)
            try:
                flood = [_made_up_token_call(stranger, n) for n in range(9, 209)]
                assert [r.status_code for r in flood] == [429] * 200 and statements == []
                served = [kiosk.config(), kiosk.upload(make_events(3)), kiosk.heartbeat({"backlog": 0})]
                served.append(kiosk.get(f"{API}/status-list"))
                assert [r.status_code for r in served] == [200, 200, 204, 200] and statements  # the probe works
            finally:
                event.remove(server.engine, "before_cursor_execute", executed)
        assert {r.headers["Retry-After"] for r in flood} == {"1"}
        assert "without a valid token from this address" in flood[0].json()["detail"]
        with server.engine.connect() as conn:
            held = conn.execute(select(events.c.device_id)).scalars().all()
        assert held == [kiosk.device_id] * 3  # the flood wrote nothing
        clock.advance(15 * 60 + 1)  # the kiosk's token expires
        assert kiosk.config().status_code == 401  # not 429: a token found good before gets its answer
        assert kiosk.challenge().status_code == 429  # the flood emptied the address: renewal waits for refills
        ticks.now += 2
        kiosk.authenticate()
        assert kiosk.config().status_code == 200
        assert limits.addresses is not None and limits.addresses.refused == 201


def test_a_token_counts_against_its_address_until_found_good_and_again_once_refused() -> None:
    ticks = Ticks()
    limits = RateLimiter(None, Limit(rate=1.0, burst=2), clock=ticks)
    limits.admit_bearer("10.0.0.1", "t")  # not known yet: 1 of 2
    limits.vouch("t")
    for _ in range(5):
        limits.admit_bearer("10.0.0.1", "t")  # found good: free
    limits.admit_bearer("10.0.0.1", None)  # 2 of 2
    with pytest.raises(TooManyRequests) as refused:
        limits.admit_bearer("10.0.0.1", "made up")
    assert refused.value.retry_after == 1
    limits.admit_bearer("10.0.0.1", "t")  # still free from the emptied address
    limits.admit_bearer("10.0.0.2", "made up")  # another address has its own bucket
    limits.distrust("t")
    with pytest.raises(TooManyRequests):
        limits.admit_bearer("10.0.0.1", "t")
    assert limits.addresses is not None and limits.addresses.refused == 2
    unlimited = RateLimiter(Limit(rate=1.0, burst=1), None)
    unlimited.vouch("t")
    unlimited.admit_bearer("10.0.0.1", "made up")
    assert len(unlimited.known) == 0  # nothing kept when addresses are not limited


def test_a_limited_kiosk_is_slowed_and_all_its_events_arrive(
    db_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The real SyncWorker against a device limit of 3 at once then 2 a second: 429s with Retry-After, waited
    out, nothing dropped or quarantined, every event held once."""
    limits = RateLimiter(Limit(rate=2.0, burst=3), None)
    with limited_server(db_url, clock, limits, monkeypatch) as server:
        code = setup_venue(server.engine, "V1", now=clock())
        config = KioskConfig.model_validate({"state_dir": str(tmp_path / "state")})
        enrolment = enrol_device(config, server.url, code, None)
        store = EventStore(config.database_path)
        try:
            ids = _record(store, enrolment.device_id, 60)
            client = CentralClient(server.url, enrolment.device_id, load_key(config.state_dir))
            worker = SyncWorker(
                database=config.database_path,
                state_dir=config.state_dir,
                client=client,
                clock=SystemClock(),
                heartbeat=lambda s: {"backlog": s.status(0).unsent},
                timers=SyncTimers(poll_s=0.05, heartbeat_s=60, config_s=300),
                backoff=Backoff(base_s=0.01, cap_s=0.1, rng=random.Random(8)),
                batch=10,
            )
            worker.start()
            try:
                deadline = time.monotonic() + 30
                while store.status(0).unsent and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                worker.stop()
            assert store.status(0).unsent == 0 and store.status(0).quarantined == 0
        finally:
            store.close()
        with server.engine.connect() as conn:
            held = list(conn.execute(select(events.c.event_id)).scalars())
        assert sorted(held) == sorted(ids)
        assert limits.devices is not None and limits.devices.refused >= 1
        assert worker.stats.failures >= 1 and not worker.stats.revoked


def _record(store: EventStore, device_id: str, count: int) -> list[str]:
    clock = SystemClock()
    return [
        store.record(
            Event(str(uuid7()), clock.boot_id, 0, clock.wall(), clock.monotonic(), False, device_id, "V1", "in",
                  "cccd", f"{n:032x}", "ACCEPT", "logged", "zxing", 3.0)
        ).event_id
        for n in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "limit"),
    [("10/s,600", Limit(10.0, 600)), ("120/min,30", Limit(2.0, 30)), (" 0.5 / s , 1 ", Limit(0.5, 1)), ("off", None)],
)
def test_limits_are_read_from_their_setting(text: str, limit: Limit | None) -> None:
    assert parse_limit(text, "--device-limit") == limit


@pytest.mark.parametrize("text", ["10/h,5", "10", "0/s,5", "10/s,0", "-1/s,5", "ten/s,5", ""])
def test_a_wrong_limit_says_where_and_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match=r"^\$KIOSK_CENTRAL_DEVICE_LIMIT: .*"):
        limiter_from_env({"KIOSK_CENTRAL_DEVICE_LIMIT": text})


def test_buckets_refill_at_their_rate_and_forget_the_least_recent_key_first() -> None:
    ticks = Ticks()
    buckets = Buckets(Limit(rate=4.0, burst=2), clock=ticks, max_keys=2)
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.25)  # empty: a token in a quarter of a second
    ticks.now += 0.25
    assert buckets.take("a") == 0.0 and buckets.take("a") == pytest.approx(0.25)
    buckets.take("b")
    buckets.take("c")  # a third key: "a", the least recently used, is forgotten (and comes back full)
    assert len(buckets) == 2 and buckets.take("a") == 0.0 and buckets.refused == 2


def test_limits_default_on_and_can_be_turned_off() -> None:
    default = limiter_from_env({})
    assert str(default) == "per device 10/s,600, per address 10/s,300"
    off = limiter_from_env({"KIOSK_CENTRAL_DEVICE_LIMIT": "off", "KIOSK_CENTRAL_ADDRESS_LIMIT": "1/s,1"})
    assert off.devices is None and off.addresses is not None


def test_kiosk_central_serve_applies_its_limits(tmp_path: Path) -> None:
    """`kiosk-central serve --device-limit --address-limit`, as deployed: the options reach every worker's app."""
    url = f"sqlite:///{tmp_path / 'central.db'}"
    engine = connect(url)
    code = setup_venue(engine, "V1")
    engine.dispose()
    central = ("--db", url, "--secret-file", str(tmp_path / "c.secret"))
    limits = ("--device-limit", "1/min,2", "--address-limit", "1/min,3")
    with kiosk_central_serve(*central, options=limits) as base, DeviceClient(base) as kiosk:
        assert kiosk.enroll(code).status_code == 201
        kiosk.authenticate()  # the address's 2nd and 3rd
        assert kiosk.challenge().status_code == 429
        answers = [kiosk.config().status_code for _ in range(3)]
        assert answers == [200, 200, 429]
    command = [sys.executable, "-m", "central", *central, "serve", "--device-limit", "5/h,1"]
    bad = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "RATE/s,BURST" in bad.stderr
