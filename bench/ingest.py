"""Ingest throughput through the HTTP API: many simulated kiosks on loopback against `kiosk-central serve`.

Each kiosk is a thread with its own requests.Session and token; it uploads batches of 500 events, gzip-compressed
(the bodies are made before the clock starts), one after the other, as a kiosk draining its backlog does. The
server is `kiosk-central serve` in a subprocess, as deployed (its access log included). Every answer must be 200
with all 500 ids held, and the events table must end up with every event exactly once.

The ceiling, measured in the same run on the same database: the rows the server stored, read back, the tables
emptied, and the same rows inserted again without HTTP, JSON or validation, 500 per transaction as the API
commits them: SQLAlchemy executemany into `events` alone, and into `event_keys` then `events` (what ingest
writes); on PostgreSQL also COPY into `events`.

    .venv/bin/python bench/ingest.py [--db sqlite postgresql] [--devices 32] [--batches 6] [--pg-workers 1 2] [--json]

PostgreSQL comes from --pg-url, else $KIOSK_TEST_PG_URL, else scripts/test-postgres.sh; its `public` schema is
dropped and made again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from sqlalchemy import Engine, create_engine, delete, func, select  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.admin import add_unit, add_venue, make_enroll_code  # noqa: E402
from central.db import connect, resolve_url  # noqa: E402
from central.schema import event_keys, events  # noqa: E402

BATCH = 500
START_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0


def fresh_url(kind: str, work: Path, pg_url: str | None) -> str:
    """An empty database of `kind`, migrated: a SQLite file on disk, or the PostgreSQL test database reset."""
    if kind == "sqlite":
        url = f"sqlite:///{work / 'central.db'}"
    else:
        url = resolve_url(pg_url or os.environ.get("KIOSK_TEST_PG_URL") or _start_postgres())
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    connect(url).dispose()
    return url


def _start_postgres() -> str:
    found = subprocess.run([ROOT / "scripts" / "test-postgres.sh"], capture_output=True, text=True, check=True)
    if not found.stdout.strip():
        raise SystemExit("PostgreSQL is not available: give --pg-url or run scripts/test-postgres.sh")
    return found.stdout.strip()


def enrolment_codes(url: str, count: int) -> list[str]:
    engine = connect(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            add_unit(conn, "HN", "Hà Nội", None, now)
            add_venue(conn, "BENCH", "Bench venue", "HN", "event", now)
            return [make_enroll_code(conn, "BENCH", now) for _ in range(count)]
    finally:
        engine.dispose()


@contextmanager
def served(url: str, work: Path, workers: int) -> Iterator[str]:
    """`kiosk-central serve` on a free loopback port; its base URL, once /healthz answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "central", "--db", url, "--secret-file", str(work / "central.secret")]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    log = (work / f"serve-{workers}.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        yield base
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()


def _wait_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"kiosk-central serve exited with {server.returncode}; see its log")
        try:
            if requests.get(base + "/healthz", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"kiosk-central serve did not answer within {START_TIMEOUT_S} s")


class Kiosk:
    """One simulated kiosk: enrolled with its own key, holding a token, with its batches ready to send."""

    def __init__(self, base: str, code: str) -> None:
        self.session = requests.Session()
        self.base = base
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        enrolled = self._post("/api/v1/enroll", {"code": code, "public_key": _b64(public)}).json()
        self.device_id = enrolled["device_id"]
        nonce = self._post("/api/v1/auth/challenge", {"device_id": self.device_id}).json()["nonce"]
        signature = key.sign(b"kiosk-auth-v1\n" + self.device_id.encode() + b"\n" + nonce.encode())
        token = self._post(
            "/api/v1/auth/token", {"device_id": self.device_id, "nonce": nonce, "signature": _b64(signature)}
        )
        self.headers = {"Authorization": f"Bearer {token.json()['token']}", "Content-Encoding": "gzip"}
        self.headers["Content-Type"] = "application/json"
        self.bodies: list[bytes] = []
        self.latencies_ms: list[float] = []

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        answer = self.session.post(self.base + path, json=body, timeout=REQUEST_TIMEOUT_S)
        answer.raise_for_status()
        return answer

    def prepare(self, batches: int) -> None:
        boot = str(uuid.uuid4())
        now = time.time()
        seq = 0
        for _ in range(batches):
            batch = []
            for _ in range(BATCH):
                seq += 1
                batch.append(_event(boot, seq, now))
            clock = {"wall": now, "mono": 100_000.0, "boot_id": boot, "synced": False}
            self.bodies.append(gzip.compress(json.dumps({"device_time": clock, "events": batch}).encode(), 6))

    def drain(self, start: threading.Barrier, failures: list[str]) -> None:
        start.wait()
        for body in self.bodies:
            began = time.perf_counter()
            answer = self.session.post(self.base + "/api/v1/events", data=body, headers=self.headers, timeout=60)
            self.latencies_ms.append((time.perf_counter() - began) * 1000)
            if answer.status_code != 200 or len(answer.json()["held"]) != BATCH:
                failures.append(f"{self.device_id}: {answer.status_code} {answer.text[:200]}")


def _event(boot: str, seq: int, now: float) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "boot_id": boot,
        "seq": seq,
        "wall_time": now - 3600 + seq,
        "mono_time": 90_000.0 + seq * 0.01,
        "clock_synced": False,
        "direction": "in" if seq % 2 else "out",
        "kind": "cccd",
        "subject_key": uuid.uuid4().hex,
        "decision": "ACCEPT",
        "reason": "logged",
        "decoder": "zxing",
        "latency_ms": 4.2,
    }


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()


def through_api(url: str, work: Path, workers: int, devices: int, batches: int) -> dict[str, Any]:
    """Events/s and request latency of `devices` kiosks draining `batches` batches each, all at once."""
    codes = enrolment_codes(url, devices)
    with served(url, work, workers) as base:
        kiosks = [Kiosk(base, code) for code in codes]
        for kiosk in kiosks:
            kiosk.prepare(batches)
        failures: list[str] = []
        start = threading.Barrier(len(kiosks) + 1)
        threads = [threading.Thread(target=k.drain, args=(start, failures)) for k in kiosks]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        for kiosk in kiosks:
            kiosk.session.close()
    sent = devices * batches * BATCH
    stored = _count(url)
    if failures or stored != sent:
        raise SystemExit(f"{len(failures)} uploads failed ({failures[:3]}); {stored} of {sent} events stored")
    latencies = [ms for k in kiosks for ms in k.latencies_ms]
    return {"workers": workers, "events": sent, "seconds": round(elapsed, 2), "events_per_s": round(sent / elapsed),
            "request_ms": pct(latencies)}  # fmt: skip


def _count(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
    engine.dispose()
    return count


def ceiling(url: str) -> dict[str, Any]:
    """The same rows inserted straight into the database, 500 per transaction: events/s of each way."""
    engine = connect(url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.received_at))]
        chunks = [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]
        result = {
            "executemany_events": _timed(engine, chunks, lambda conn, chunk: conn.execute(events.insert(), chunk)),
            "executemany_keys_and_events": _timed(engine, chunks, _keys_and_events),
        }
        if engine.dialect.name == "postgresql":
            result["copy_events"] = _timed(engine, chunks, _copy)
        return result
    finally:
        engine.dispose()


def _timed(engine: Engine, chunks: list[list[dict[str, Any]]], insert: Any) -> int:
    with engine.begin() as conn:
        conn.execute(delete(events))
        conn.execute(delete(event_keys))
    began = time.perf_counter()
    for chunk in chunks:
        with engine.begin() as conn:
            insert(conn, chunk)
    return round(sum(len(c) for c in chunks) / (time.perf_counter() - began))


def _keys_and_events(conn: Any, chunk: list[dict[str, Any]]) -> None:
    keys = ("event_id", "venue_id", "received_day")
    conn.execute(event_keys.insert(), [{k: r[k] for k in keys} for r in chunk])
    conn.execute(events.insert(), chunk)


def _copy(conn: Any, chunk: list[dict[str, Any]]) -> None:
    columns = [c.name for c in events.columns]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY events ({', '.join(columns)}) FROM STDIN") as copy:
        for row in chunk:
            copy.write_row([row[c] for c in columns])


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    runs = []
    for workers in args.pg_workers if kind == "postgresql" else [1]:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            url = fresh_url(kind, Path(tmp), args.pg_url)
            runs.append(through_api(url, Path(tmp), workers, args.devices, args.batches))
            runs[-1]["ceiling_events_per_s"] = ceiling(url)
    return {"database": kind, "devices": args.devices, "batch": BATCH, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--devices", type=int, default=32, help="simulated kiosks, each a thread")
    parser.add_argument("--batches", type=int, default=6, help="batches of 500 each kiosk sends")
    parser.add_argument("--pg-workers", type=int, nargs="+", default=[1, 2], help="server processes to try")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its public schema is dropped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [run(kind, args) for kind in args.db]
    emit({"machine": machine(), "results": results}, args.json)


if __name__ == "__main__":
    main()
