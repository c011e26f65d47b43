#!/usr/bin/env python3
"""What a single-use pass makes the person wait (docs/venue-state.md): the one decision that asks others.

centre        the claim answered by a real centre on loopback (SQLite), the usual case
peers         the centre unreachable (connection refused), two other gates' peer servers answering
hung          the centre unreachable and one gate hung (accepts, never answers): the bound, 300 ms per step
baseline      the gate's own history alone (EventStore.entered), what every other pass costs

.venv/bin/python bench/claim_latency.py --json
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import emit, machine, pct
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.store import EventStore
from kiosk.store.venuebook import VenueBook
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key
from kiosk.venue.claims import VenueClaims
from kiosk.venue.discovery import Directory
from kiosk.venue.peerclient import PeerClient
from kiosk.venue.peerserver import PeerServer
from kiosk.venue.protocol import Peer

VENUE = "BENCH"
TIMEOUT_S = 0.3


def timed(claims: VenueClaims, rounds: int) -> tuple[list[float], set[str]]:
    samples, answers = [], set()
    for _ in range(rounds):
        key = secrets.token_hex(16)
        started = time.perf_counter()
        answers.add(claims.claim(key))
        samples.append((time.perf_counter() - started) * 1000)
    return samples, answers


def run(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "centre").mkdir()
        with LocalCentral(root / "centre", bytes(range(32))) as central:
            code = central.venue_with_code(("67", "Đắk Nông"), (VENUE, "Nhà máy"), "factory")
            config = KioskConfig.model_validate({"state_dir": str(root / "gate")})
            enrol_device(config, central.url, code, None)
            enrolment = load_enrolment(config.state_dir)
            assert enrolment is not None
            key = load_key(config.state_dir)
            centre = CentralClient(enrolment.server, enrolment.device_id, key)
            store = EventStore(config.database_path)
            keys = {name: Ed25519PrivateKey.generate() for name in ("peer-1", "peer-2")}
            everyone = {enrolment.device_id: Peer(enrolment.device_id, key.public_key())}
            everyone |= {name: Peer(name, k.public_key()) for name, k in keys.items()}
            servers = []
            for name, peer_key in keys.items():
                book = VenueBook(root / f"{name}.db", name, VENUE)
                EventStore(root / f"{name}.db").close()  # its tables
                others = {n: p for n, p in everyone.items() if n != name}
                server = PeerServer("127.0.0.1", 0, device_id=name, key=peer_key, venue=VENUE,
                                    peers=lambda o=others: o, book=book, wall=time.time)  # fmt: skip
                server.start()
                servers.append(server)
            mine = {n: p for n, p in everyone.items() if n != enrolment.device_id}
            talk = PeerClient(enrolment.device_id, key, VENUE, lambda: mine, time.time)
            addresses = [f"127.0.0.1:{s.port}" for s in servers]
            result: dict[str, Any] = {}
            centre.claim(secrets.token_hex(16), 5.0)  # the token, once, out of the timing
            samples, answers = timed(VenueClaims(centre, talk, Directory("g", VENUE, addresses), TIMEOUT_S), rounds)
            result["centre"] = {**pct(samples), "max": round(max(samples), 2), "answers": sorted(answers)}
            with socket.socket() as closed:
                closed.bind(("127.0.0.1", 0))
                refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
            away = CentralClient(refused, enrolment.device_id, key)
            away._token, away._token_until = "x", time.monotonic() + 3600
            samples, answers = timed(VenueClaims(away, talk, Directory("g", VENUE, addresses), TIMEOUT_S), rounds)
            result["peers"] = {**pct(samples), "max": round(max(samples), 2), "answers": sorted(answers)}
            hung = socket.socket()
            hung.bind(("127.0.0.1", 0))
            hung.listen(64)
            one_hung = [addresses[0], f"127.0.0.1:{hung.getsockname()[1]}"]
            samples, answers = timed(
                VenueClaims(away, talk, Directory("g", VENUE, one_hung), TIMEOUT_S), max(5, rounds // 20)
            )
            hung.close()
            result["hung"] = {**pct(samples), "max": round(max(samples), 2), "answers": sorted(answers)}
            baseline = []
            for _ in range(rounds):
                started = time.perf_counter()
                store.entered(secrets.token_hex(16), VENUE)
                baseline.append((time.perf_counter() - started) * 1000)
            result["baseline"] = {**pct(baseline), "max": round(max(baseline), 3)}
            for server in servers:
                server.stop()
            store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    emit({"benchmark": "claim_latency", "machine": machine(), "ms": run(args.rounds)}, args.json)


if __name__ == "__main__":
    main()
