"""Signed webhooks (docs/feeds.md): the outbox is written with the events, delivery is at least once to a real
receiver on 127.0.0.1 that fails at times (500s, a hang past the timeout, refused connections while it is down),
signatures verify, a retried batch keeps its Idempotency-Key, and a receiver down for a day (an injected clock,
no sleeping) gets everything when it is back. SQLite, and PostgreSQL when $KIOSK_TEST_PG_URL is set."""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from central_fixtures import FakeClock, add_unit, add_venue, device_time, make_events, new_enroll_code
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func, select

from central.db import connect
from central.devices import Device, enroll
from central.errors import CentralError
from central.feed.payload import FIELDS
from central.feed.scope import Scope
from central.ingest import ingest
from central.models import DeviceTime, EventIn
from central.webhooks.delivery import Delivery, Schedule
from central.webhooks.endpoints import add_endpoint, check_url, endpoint_states, remove_endpoint
from central.webhooks.signing import signature, verify
from central.webhooks.tables import event_feed, webhook_endpoints, webhook_outbox

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RAW_IDENTITY = "001099012345"  # an ID number: nothing sent may contain it


class Receiver:
    """An HTTP receiver on 127.0.0.1 that answers by plan: "ok" (200), a status code ("500"), or "hang" (answers
    200 after `hang_s`, past the sender's timeout). Records every request it read, whatever it answered."""

    def __init__(self, plan: list[str] | None = None, *, port: int = 0, hang_s: float = 1.0) -> None:
        self.plan = list(plan or [])
        self.hang_s = hang_s
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                    step = receiver.plan.pop(0) if receiver.plan else "ok"
                if step == "hang":
                    time.sleep(receiver.hang_s)
                    step = "ok"
                status = 200 if step == "ok" else int(step)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                if status in (301, 302):
                    self.send_header("Location", "http://192.0.2.1/elsewhere")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def event_ids(self) -> list[str]:
        return [e["event_id"] for r in self.requests for e in json.loads(r["body"])["events"]]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.stop()


def places(engine: Engine) -> dict[str, Device]:
    """HN with HN-BD below it, and HCM; venues V1 (HN-BD), V2 (HN), V3 (HCM), a device at each."""
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


def upload(engine: Engine, device: Device, count: int, at: datetime = START) -> list[str]:
    batch = [EventIn.model_validate(e) for e in make_events(count)]
    with engine.begin() as conn:
        return ingest(conn, device, DeviceTime.model_validate(device_time()), batch, at)


def endpoint(
    engine: Engine, name: str, url: str, *, unit: str | None = None, venue: str | None = None, **kw: Any
) -> str:
    from central.feed.scope import parse_scope

    with engine.begin() as conn:
        return add_endpoint(conn, name, url, parse_scope(conn, unit, venue), kw.get("fields"), START)[1]


def backlog(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_outbox)).scalar_one())


def delivery(engine: Engine, clock: FakeClock, **kw: Any) -> Delivery:
    options = {"timeout_s": 0.3, "batch_size": 40, "parallel": 2, "schedule": Schedule(1.0, 60.0)} | kw
    return Delivery(engine, clock=clock, rng=random.Random(7), **options)


def until_empty(engine: Engine, sender: Delivery, clock: FakeClock, rounds: int = 40) -> None:
    for _ in range(rounds):
        sender.run_once()
        if backlog(engine) == 0:
            return
        clock.advance(61)
    raise AssertionError(f"{backlog(engine)} events still queued after {rounds} rounds")


def check_signed(receiver: Receiver, secret: str) -> None:
    for request in receiver.requests:
        headers = request["headers"]
        assert headers["X-Kiosk-Signature"].startswith("v1=")
        assert verify(secret, headers["X-Kiosk-Timestamp"], headers["X-Kiosk-Signature"], request["body"], time.time())
        assert not verify(
            "another secret", headers["X-Kiosk-Timestamp"], headers["X-Kiosk-Signature"], request["body"], time.time()
        )
        assert json.loads(request["body"])["batch"] == headers["Idempotency-Key"]


def test_every_event_arrives_signed_through_500s_and_a_hang_with_stable_idempotency_keys(
    engine: Engine, receivers: list[Receiver]
) -> None:
    devices = places(engine)
    flaky = Receiver(["500", "hang", "ok", "503", "ok", "500"], hang_s=1.0).start()
    steady = Receiver().start()
    receivers += [flaky, steady]
    hn_secret = endpoint(engine, "hn", flaky.url, unit="HN")
    v3_secret = endpoint(engine, "v3", steady.url, venue="V3")
    expected_hn = upload(engine, devices["V1"], 90) + upload(engine, devices["V2"], 30)
    expected_v3 = upload(engine, devices["V3"], 25)
    clock = FakeClock(START)
    sender = delivery(engine, clock)

    first = sender.run_once()
    assert sorted(steady.event_ids()) == sorted(expected_v3), "a failing endpoint held up another"
    assert any(not o.ok for o in first)
    until_empty(engine, sender, clock)

    assert set(flaky.event_ids()) == set(expected_hn)  # at least once: every event, none of another area
    assert len(flaky.event_ids()) > len(expected_hn)  # the hang's batch arrived and was sent again
    check_signed(flaky, hn_secret)
    check_signed(steady, v3_secret)
    bodies: dict[str, set[bytes]] = {}
    for request in flaky.requests:
        bodies.setdefault(request["headers"]["Idempotency-Key"], set()).add(request["body"])
    assert len(bodies) < len(flaky.requests), "no batch was retried"
    assert all(len(same) == 1 for same in bodies.values()), "a retried batch changed"
    for request in flaky.requests + steady.requests:
        text = request["body"].decode()
        assert RAW_IDENTITY not in text
        for event in json.loads(text)["events"]:
            assert set(event) == set(FIELDS)
            assert event["venue"] in ("V1", "V2", "V3") and len(event["subject_key"]) == 32
    with engine.connect() as conn:
        state = conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.name == "hn")).one()
    assert state.failures == 0 and state.batch_key is None and state.last_success_at is not None
    assert state.last_error  # the last failure is kept for the page


def test_a_receiver_down_for_a_day_gets_everything_when_it_is_back(engine: Engine, receivers: list[Receiver]) -> None:
    devices = places(engine)
    receiver = Receiver().start()
    receivers.append(receiver)
    port = receiver.port
    receiver.stop()  # down: connections refused
    endpoint(engine, "down", f"http://127.0.0.1:{port}/hook", venue="V1")
    clock = FakeClock(START)
    sender = delivery(engine, clock, schedule=Schedule(5.0, 900.0))
    expected = upload(engine, devices["V1"], 50)
    attempts = 0
    for hour in range(24):
        for _ in range(4):  # every quarter of an hour, like the worker would find it due
            attempts += len(sender.run_once())
            clock.advance(900)
        expected += upload(engine, devices["V1"], 5, at=clock())
        del hour
    with engine.connect() as conn:
        state = endpoint_states(conn)[0]
    assert state["failures"] == attempts >= 24 * 2  # retried through the day, never given up
    assert "refused" in state["last_error"] and state["backlog"] == len(expected)
    assert (state["next_attempt_at"] - clock()).total_seconds() <= 900  # capped at 15 min

    back = Receiver(port=port).start()
    receivers.append(back)
    clock.advance(900)
    until_empty(engine, sender, clock)
    assert sorted(set(back.event_ids())) == sorted(expected)
    with engine.connect() as conn:
        assert endpoint_states(conn)[0]["failures"] == 0


def test_the_outbox_row_exists_if_and_only_if_the_event_does(engine: Engine) -> None:
    devices = places(engine)
    endpoint(engine, "hn", "http://127.0.0.1:9/hook", unit="HN")
    endpoint(engine, "v1", "http://127.0.0.1:9/hook", venue="V1")
    ids = upload(engine, devices["V1"], 10)
    upload(engine, devices["V3"], 4)  # no endpoint covers HCM
    assert backlog(engine) == 20
    batch = [EventIn.model_validate(e) for e in make_events(5)]
    with pytest.raises(RuntimeError), engine.begin() as conn:
        ingest(conn, devices["V1"], DeviceTime.model_validate(device_time()), batch, START)
        raise RuntimeError("the upload's transaction fails after ingest")
    assert backlog(engine) == 20
    again = [EventIn.model_validate(e | {"event_id": i}) for e, i in zip(make_events(10), ids, strict=True)]
    with engine.begin() as conn:  # a batch sent again: held, not queued twice
        ingest(conn, devices["V1"], DeviceTime.model_validate(device_time()), again, START)
    with engine.connect() as conn:
        assert backlog(engine) == 20
        assert conn.execute(select(func.count()).select_from(event_feed)).scalar_one() == 14
        remove_endpoint(conn, "v1")
        conn.commit()
    assert backlog(engine) == 10


def test_fields_redirects_and_two_senders_at_once(engine: Engine, receivers: list[Receiver]) -> None:
    devices = places(engine)
    few = Receiver().start()
    moved = Receiver(["302"]).start()
    receivers += [few, moved]
    endpoint(engine, "few", few.url, venue="V1", fields=["subject_key", "time"])
    endpoint(engine, "moved", moved.url, venue="V2")
    expected = upload(engine, devices["V1"], 120)
    upload(engine, devices["V2"], 3)
    clock = FakeClock(START)
    senders = [delivery(engine, clock, batch_size=10), delivery(engine, clock, batch_size=10)]
    threads = [threading.Thread(target=s.run_once) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(few.event_ids()) == sorted(expected)  # every batch once: no two senders took the same
    for request in few.requests:
        assert all(set(e) == {"event_id", "subject_key", "time"} for e in json.loads(request["body"])["events"])
    with engine.connect() as conn:
        states = {s["name"]: s for s in endpoint_states(conn)}
    assert states["moved"]["failures"] == 1 and "redirect" in states["moved"]["last_error"]
    assert list(states) == ["moved", "few"]  # failing first
    assert len(moved.requests) == 1


def test_urls_and_fields_are_checked(engine: Engine) -> None:
    places(engine)
    for bad, says in (
        ("ftp://example.org/x", "http:// or https://"),
        ("https://user:pw@example.org/x", "no user name or password"),
        ("https://tok@example.org/x", "no user name or password"),
        ("http:///nohost", "with a host"),
        ("https://example.org:99999/", "Port"),
        ("https://exa mple.org/", "no spaces"),
    ):
        with pytest.raises(CentralError, match=says):
            check_url(bad)
    with engine.begin() as conn, pytest.raises(CentralError, match="unknown field 'name'"):
        add_endpoint(conn, "x", "https://example.org/", Scope(venue_id=1), ["name"], START)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"events":[]}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1700000000, body) == f"v1={expected}"
    assert verify("s3cret", "1700000000", f"v0=abc, v1={expected}", body, 1700000100)
    assert not verify("s3cret", "1700000000", f"v1={expected}", body, 1700000000 + 301)  # too old: a replay
    assert not verify("s3cret", "1700000000", f"v1={expected}", body + b" ", 1700000000)
    assert not verify("s3cret", "soon", f"v1={expected}", body, 1700000000)


def test_the_commands_add_list_deliver_and_remove(engine: Engine, db_url: str, receivers: list[Receiver]) -> None:
    from click.testing import CliRunner

    from central.cli import cli

    devices = places(engine)
    receiver = Receiver().start()
    receivers.append(receiver)

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)

    added = run("webhooks", "add", "hn", receiver.url, "--unit", "HN")
    assert added.exit_code == 0, added.output
    secret = added.output.split("signing secret")[1].split(": ")[1].strip()
    refused = run("webhooks", "add", "bad", "https://u:p@example.org/", "--unit", "HN")
    assert refused.exit_code == 1 and "no user name or password" in refused.output
    both = run("webhooks", "add", "bad", receiver.url, "--unit", "HN", "--venue", "V1")
    assert both.exit_code == 1 and "exactly one of --unit" in both.output
    ids = upload(engine, devices["V1"], 7)
    listed = run("webhooks", "list")
    assert "hn  unit HN" in listed.output and "backlog 7" in listed.output and secret not in listed.output
    sent = run("webhooks", "deliver", "--once")
    assert sent.exit_code == 0 and "7 events delivered in 1 batches" in sent.output
    assert sorted(receiver.event_ids()) == sorted(ids)
    check_signed(receiver, secret)
    assert '"backlog": 0' in run("webhooks", "list", "--json").output
    assert run("webhooks", "remove", "hn").exit_code == 0
    missing = run("webhooks", "remove", "hn")
    assert missing.exit_code == 1 and "no webhook endpoint hn" in missing.output


def test_retention_takes_the_outbox_and_the_feed_with_the_events(engine: Engine, receivers: list[Receiver]) -> None:
    from datetime import timedelta

    from sqlalchemy import delete

    from central.maintenance import Maintenance
    from central.schema import events

    devices = places(engine)
    receiver = Receiver().start()
    receivers.append(receiver)
    endpoint(engine, "hn", receiver.url, unit="HN")
    upload(engine, devices["V1"], 6)
    with engine.begin() as conn:  # the events gone (a partition dropped) before their outbox rows were purged
        conn.execute(delete(events))
    clock = FakeClock(START)
    outcomes = delivery(engine, clock).run_once()
    assert [o.events for o in outcomes] == [0] and receiver.requests == []  # nothing to send, nothing sent
    with engine.connect() as conn:
        assert endpoint_states(conn)[0]["last_success_at"] is None
    assert backlog(engine) == 0

    kept = upload(engine, devices["V2"], 3, at=START + timedelta(days=3))
    upload(engine, devices["V1"], 4)  # received on START's day: past a 2-day retention at START + 3 days
    Maintenance(engine, 2, clock=lambda: START + timedelta(days=3)).run_once()
    with engine.connect() as conn:
        left = set(conn.execute(select(event_feed.c.event_id)).scalars())
    assert left == set(kept) and backlog(engine) == 3


def test_the_receivers_check_in_docs_feeds_md_accepts_a_real_request(engine: Engine, receivers: list[Receiver]) -> None:
    """The Python example of docs/feeds.md, run as a receiver would run it, on what the centre sent."""
    from pathlib import Path

    devices = places(engine)
    receiver = Receiver().start()
    receivers.append(receiver)
    secret = endpoint(engine, "v1", receiver.url, venue="V1")
    upload(engine, devices["V1"], 2)
    delivery(engine, FakeClock(START)).run_once()
    doc = (Path(__file__).resolve().parent.parent / "docs" / "feeds.md").read_text(encoding="utf-8")
    example = doc.split("### Checking the signature (Python)")[1].split("```python\n")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(example, namespace)
    [request] = receiver.requests
    assert namespace["verified"](secret, request["headers"], request["body"])
    assert not namespace["verified"](secret, request["headers"], request["body"] + b" ")
    assert not namespace["verified"]("0" * 64, request["headers"], request["body"])
