"""The venue's gates on their own network (docs/venue-state.md): passages pushed between two real peer servers on
loopback, single-use claims answered once, and everything that is not a signed message of this venue's gates
refused. mDNS discovery on the loopback interface where the test may turn multicast on (root)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_store import make_event

from kiosk.store import EventStore
from kiosk.store.venuebook import Passage, VenueBook
from kiosk.venue.discovery import Directory
from kiosk.venue.peerclient import PeerClient, Unreachable
from kiosk.venue.peerserver import CLAIM, PeerServer
from kiosk.venue.protocol import Peer

VENUE = "NM-1"
KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Gate:
    device_id: str
    key: Ed25519PrivateKey
    store: EventStore
    book: VenueBook
    server: PeerServer
    client: PeerClient

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def entry(self, subject: str = KEY, direction: str = "in", **changes: object) -> None:
        event = make_event(
            device_id=self.device_id, venue=VENUE, subject_key=subject, direction=direction, wall_time=time.time(),
            **changes,
        )  # fmt: skip
        self.store.record(event)


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[dict[str, Gate]]:
    keys = {name: Ed25519PrivateKey.generate() for name in ("gate-a", "gate-b", "gate-c")}
    everyone = {name: Peer(name, key.public_key()) for name, key in keys.items()}
    made: dict[str, Gate] = {}
    for name, key in keys.items():
        others = {n: p for n, p in everyone.items() if n != name}
        store = EventStore(tmp_path / f"{name}.db")
        book = VenueBook(tmp_path / f"{name}.db", name, VENUE)
        server = PeerServer(
            "127.0.0.1", 0, device_id=name, key=key, venue=VENUE, peers=lambda o=others: o, book=book, wall=time.time
        )
        server.start()
        client = PeerClient(name, key, VENUE, lambda o=others: o, time.time)
        made[name] = Gate(name, key, store, book, server, client)
    yield made
    for gate in made.values():
        gate.server.stop()
        gate.store.close()


def test_a_passage_pushed_to_another_gate_counts_there_once(gates: dict[str, Gate]) -> None:
    a, b = gates["gate-a"], gates["gate-b"]
    a.entry()
    passages, upto = a.book.own_after(0)
    assert [p.subject_key for p in passages] == [KEY] and upto > 0
    assert a.client.push(b.address, passages) == 1
    assert a.client.push(b.address, passages) == 0  # sent again after a lost answer: held once
    assert b.store.last_accepted(KEY, VENUE) is not None and b.store.entered(KEY, VENUE)
    assert b.book.occupancy(0.0) == 1
    a.entry(direction="out", seq=2)
    a.client.push(b.address, a.book.own_after(upto)[0])
    assert b.store.last_accepted(KEY, VENUE)[0] == "out" and b.book.occupancy(0.0) == 0  # type: ignore[index]


def test_a_gate_speaks_for_itself_only(gates: dict[str, Gate]) -> None:
    a, b = gates["gate-a"], gates["gate-b"]
    forged = Passage("e-1", "gate-c", VENUE, KEY, "in", time.time(), "cccd", "access-ok")  # gate-c's, sent by a
    assert a.client.push(b.address, [forged]) == 0
    assert not b.store.entered(KEY, VENUE)


def test_a_single_use_pass_is_granted_to_one_gate_only(gates: dict[str, Gate]) -> None:
    a, b, c = gates["gate-a"], gates["gate-b"], gates["gate-c"]
    assert a.client.claim([b.address, c.address], KEY, timeout=2.0) == "first"
    assert a.client.claim([b.address, c.address], KEY, timeout=2.0) == "first"  # asked again: the same answer
    assert c.client.claim([a.address, b.address], KEY, timeout=2.0) == "used"
    assert b.store.entered(KEY, VENUE)  # b granted it to a: for b it is used
    other = "f" * 32
    c.entry(other)
    assert a.client.claim([b.address, c.address], other, timeout=2.0) == "used"  # c let it in itself


def test_a_gate_that_does_not_answer_makes_the_claim_unknown_within_the_bound(gates: dict[str, Gate]) -> None:
    a, b = gates["gate-a"], gates["gate-b"]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers: a hung gate
    try:
        started = time.monotonic()
        answer = a.client.claim([b.address, f"127.0.0.1:{silent.getsockname()[1]}"], KEY, timeout=0.3)
        took = time.monotonic() - started
    finally:
        silent.close()
    assert answer == "unknown" and took < 0.6  # b said "not used", gate-c never did
    b.server.stop()
    assert a.client.claim([f"127.0.0.1:{b.server.port}"], "e" * 32, timeout=0.3) == "unknown"


def test_strangers_replays_and_other_venues_are_refused(gates: dict[str, Gate], tmp_path: Path) -> None:
    a, b = gates["gate-a"], gates["gate-b"]
    stranger_key = Ed25519PrivateKey.generate()
    stranger = PeerClient("gate-a", stranger_key, VENUE, a.client.peers, time.time)  # claims to be gate-a
    with pytest.raises(Unreachable, match="HTTP 403"):
        stranger.post(b.address, CLAIM, {"subject_key": KEY}, 2.0)
    stale = PeerClient("gate-a", a.key, VENUE, a.client.peers, lambda: time.time() - 3600)
    with pytest.raises(Unreachable):  # an hour old: refused by b, and b's answer is then too new for it
        stale.post(b.address, CLAIM, {"subject_key": KEY}, 2.0)
    elsewhere = PeerClient("gate-a", a.key, "OTHER", a.client.peers, time.time)
    with pytest.raises(Unreachable):
        elsewhere.post(b.address, CLAIM, {"subject_key": KEY}, 2.0)
    assert not b.store.entered(KEY, VENUE)  # none of them was granted anything
    import requests

    assert requests.post(f"http://{b.address}/peer/v1/claim", data=b"x" * (2 << 20), timeout=5).status_code == 413
    assert requests.get(f"http://{b.address}/peer/v1/claim", timeout=5).status_code == 405


def test_passages_older_than_a_day_are_forgotten(gates: dict[str, Gate]) -> None:
    b = gates["gate-b"]
    now = time.time()
    old = Passage("e-old", "gate-a", VENUE, KEY, "in", now - 2 * 86400, "cccd", "access-ok")
    fresh = Passage("e-new", "gate-a", VENUE, "a" * 32, "in", now - 60, "cccd", "access-ok")
    assert b.book.hold([old, fresh], now) == 1  # the old one is not even kept
    b.book.grant("c" * 32, "gate-a", now - 2 * 86400)
    assert b.book.purge(now) == 1 and not b.store.entered("c" * 32, VENUE)


def _multicast_on_loopback() -> bool:
    if os.geteuid() != 0:
        return False
    flags = subprocess.run(["ip", "link", "show", "lo"], capture_output=True, text=True).stdout
    return "MULTICAST" in flags or subprocess.run(["ip", "link", "set", "lo", "multicast", "on"]).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="turning multicast on for the loopback interface needs root")
def test_gates_find_each_other_by_mdns_on_the_loopback_interface() -> None:
    had = "MULTICAST" in subprocess.run(["ip", "link", "show", "lo"], capture_output=True, text=True).stdout
    assert _multicast_on_loopback()
    route = subprocess.run(["ip", "route", "add", "224.0.0.0/4", "dev", "lo"], capture_output=True).returncode == 0
    a, b = Directory("gate-a", VENUE), Directory("gate-b", VENUE)
    other = Directory("gate-x", "ELSEWHERE")
    try:
        a.announce(8766, ["127.0.0.1"], "127.0.0.1")
        other.announce(8767, ["127.0.0.1"], "127.0.0.1")
        b.announce(8768, ["127.0.0.1"], "127.0.0.1")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (a.addresses() and b.addresses()):
            time.sleep(0.1)
        assert a.addresses() == ["127.0.0.1:8768"] and b.addresses() == ["127.0.0.1:8766"]  # not the other venue's
    finally:
        for directory in (a, b, other):
            directory.close()
        if route:
            subprocess.run(["ip", "route", "del", "224.0.0.0/4", "dev", "lo"], check=False)
        if not had:
            subprocess.run(["ip", "link", "set", "lo", "multicast", "off"], check=False)


def test_configured_addresses_are_tried_without_mdns() -> None:
    directory = Directory("gate-a", VENUE, ["10.0.0.12:8766", "10.0.0.13:8766"])
    assert directory.addresses() == ["10.0.0.12:8766", "10.0.0.13:8766"]
