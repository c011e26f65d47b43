"""Webhook delivery's throughput: events per second from the outbox to a receiver on loopback (central/webhooks/).

N events are stored as uploads store them (`ingest`, batches of 500, one venue, one endpoint covering it; the
ingest time with and without the endpoint is reported too, and with the feed and outbox left out, as ingest was
before them: what they add to an upload), then one `Delivery.run_once` sends them all, in batches of --batch, to
an http.server receiver on 127.0.0.1 that checks every signature and answers 200.

Baseline in the same run: the same number of requests of the same size (the first batch's body), POSTed with
`requests` by one thread to the same receiver, with no database: what the transport alone costs.

    .venv/bin/python bench/webhook_bench.py [--events 20000] [--batch 100] [--db sqlite|URL] [--json]

SQLite: a file in a temporary directory; --db postgresql://... uses that database (its `public` schema is dropped
and made again: never point it at data you keep).
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import threading
import time
import uuid
from contextlib import nullcontext
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest.mock import patch

import requests
from common import add_repo_to_path, emit, machine

add_repo_to_path()

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from sqlalchemy import Engine, create_engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.admin import add_unit, add_venue, make_enroll_code  # noqa: E402
from central.db import connect, resolve_url  # noqa: E402
from central.devices import Device, enroll  # noqa: E402
from central.feed.scope import Scope  # noqa: E402
from central.ingest import ingest  # noqa: E402
from central.models import DeviceTime, EventIn  # noqa: E402
from central.webhooks.delivery import Delivery  # noqa: E402
from central.webhooks.endpoints import add_endpoint  # noqa: E402
from central.webhooks.signing import verify  # noqa: E402

UPLOAD = 500


class Receiver:
    """Reads each request, checks its signature, counts its events, answers 200."""

    def __init__(self) -> None:
        self.secret = ""
        self.events = 0
        self.requests = 0
        self.bad = 0
        self.first_body = b""
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = self.headers.get("X-Kiosk-Signature", "")
                ok = not receiver.secret or verify(
                    receiver.secret, self.headers.get("X-Kiosk-Timestamp", ""), signed, body, time.time()
                )
                with receiver.lock:
                    receiver.requests += 1
                    receiver.bad += not ok
                    receiver.events += body.count(b'"event_id"')
                    receiver.first_body = receiver.first_body or body
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def database(flag: str, work: Path) -> Engine:
    if flag == "sqlite":
        return connect(f"sqlite:///{work / 'central.db'}")
    url = resolve_url(flag)
    fresh = create_engine(url, poolclass=NullPool)
    with fresh.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    fresh.dispose()
    return connect(url)


def a_venue(engine: Engine, code: str) -> Device:
    now = datetime.now(UTC)
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with engine.begin() as conn:
        if code == "B0":
            add_unit(conn, "HN", "Hà Nội", None, now)
        add_venue(conn, code, code, "HN", "office", now)
        return enroll(conn, make_enroll_code(conn, code, now), base64.b64encode(raw).decode(), "gate", now)


def store(engine: Engine, devices: dict[str, Device], count: int) -> dict[str, float]:
    """Seconds to ingest `count` events at each venue in uploads of 500, the venues taking turns upload by upload
    (so that the database's growth and the disk's moods weigh the same on each). Venue B0's uploads are stored
    with the feed and outbox left out (`record_outgoing` a no-op): ingest as it was before them."""
    seconds = dict.fromkeys(devices, 0.0)
    for first in range(0, count, UPLOAD):
        for code, device in devices.items():
            batch = [EventIn.model_validate(event(n)) for n in range(first, min(first + UPLOAD, count))]
            clock = DeviceTime(wall=time.time(), mono=1e6, boot_id="b", synced=True)
            skipped = patch("central.ingest.record_outgoing") if code == "B0" else nullcontext()
            with skipped:
                started = time.perf_counter()
                with engine.begin() as conn:
                    ingest(conn, device, clock, batch, datetime.now(UTC))
                seconds[code] += time.perf_counter() - started
    return seconds


def event(n: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "boot_id": "b",
        "seq": n + 1,
        "wall_time": time.time(),
        "mono_time": float(n),
        "clock_synced": True,
        "direction": "in",
        "kind": "cccd",
        "subject_key": f"{n:032x}",
        "decision": "ACCEPT",
        "reason": "logged",
        "decoder": "zxing",
        "latency_ms": 4.0,
    }


def baseline(url: str, body: bytes, requests_count: int) -> float:
    """Seconds for `requests_count` POSTs of `body` by one keep-alive session, no database."""
    with requests.Session() as session:
        session.trust_env = False
        started = time.perf_counter()
        for _ in range(requests_count):
            session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).close()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--db", default="sqlite", help="sqlite (a temporary file) or a PostgreSQL URL")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as work:
        engine = database(args.db, Path(work))
        devices = {code: a_venue(engine, code) for code in ("B0", "B1", "B2")}
        with engine.begin() as conn:  # B2's events go to the receiver; none covers B0 or B1
            receiver.secret = add_endpoint(
                conn, "bench", receiver.url, Scope(venue_id=devices["B2"].venue_id), None, datetime.now(UTC)
            )[1]
        took = store(engine, devices, args.events)
        sender = Delivery(engine, batch_size=args.batch, parallel=args.parallel)
        started = time.perf_counter()
        outcomes = sender.run_once()
        sent_s = time.perf_counter() - started
        dialect = engine.dialect.name
        engine.dispose()
    assert receiver.events == args.events and receiver.bad == 0 and all(o.ok for o in outcomes), (receiver.events,)
    raw_s = baseline(receiver.url, receiver.first_body, len(outcomes))
    receiver.stop()
    emit({
        "benchmark": "webhooks", "database": dialect, "events": args.events, "batch": args.batch,
        "parallel": args.parallel, "requests": len(outcomes),
        "delivered_events_per_s": round(args.events / sent_s), "delivery_s": round(sent_s, 3),
        "baseline_raw_post_events_per_s": round(args.events / raw_s), "baseline_raw_post_s": round(raw_s, 3),
        "baseline_ingest_ms_per_500_without_feed_or_outbox": round(took["B0"] * 1000 / (args.events / UPLOAD), 2),
        "ingest_ms_per_500_without_endpoint": round(took["B1"] * 1000 / (args.events / UPLOAD), 2),
        "ingest_ms_per_500_with_endpoint": round(took["B2"] * 1000 / (args.events / UPLOAD), 2),
        "machine": machine(),
    }, args.json)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
