"""Backlog drain: a kiosk three days offline at a busy gate comes back online.

The kiosk's store holds --events unsent events (default 100,000: about three days of a busy gate) when its
sync thread starts against `kiosk-central serve` on loopback (SQLite, or PostgreSQL with --db). Meanwhile its
frame loop keeps deciding on a replay of distinct codes, and its frame-to-feedback latency is measured. The
baseline is the same replay with no sync running, in the same run.

With --outage-s S, the kiosk talks to the centre through tests/faultproxy.py, and the three days end as they
would: the gate runs S seconds with the centre unreachable (every connection reset) while its sync thread fails
and backs off, then the network comes back. Reported besides: the loop's latency while offline, the time from
the network's return to the first upload the centre took (the kiosk's backoff, capped at 300 s, decides it),
and the largest number of events in one upload (bounded batches). The three days themselves are not waited
through: the kiosk's own Backoff is run on a simulated clock for three days of failed attempts, which gives how
often a kiosk knocks while the centre is down (in the first minute, hour, and three days: its quick first retries
are for sporadic failures, and must not become a stampede) and the longest it can take to notice the centre is
back.

    .venv/bin/python bench/drain.py [--events 100000] [--db URL] [--outage-s 60] [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()

from central.admin import add_unit, add_venue, make_enroll_code  # noqa: E402
from central.db import connect  # noqa: E402
from central.timeutil import utcnow  # noqa: E402
from kiosk.app import assemble  # noqa: E402
from kiosk.camera.files import ImageFolderSource  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.events import Event  # noqa: E402
from kiosk.ids import uuid7  # noqa: E402
from kiosk.store import EventStore  # noqa: E402
from kiosk.sync.backoff import Backoff  # noqa: E402
from kiosk.sync.enrol import enrol_device  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from latency import frames_for  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))
from faultproxy import FaultPlan, FaultProxy, reset_before  # noqa: E402


def backlog(
    store: EventStore, count: int, *, boot: str = "offline-boot", device: str = "bench", venue: str = "BENCH"
) -> set[str]:
    """`count` unsent events of three days, as the kiosk would have recorded them, in one transaction (setup, not
    measured); their ids."""
    start = time.time() - 3 * 86400
    rows = [
        Event(str(uuid7()), boot, i + 1, start + i * 2.6, i * 2.6, True, device, venue, "in", "cccd",
              f"{i:032x}", "ACCEPT", "logged", "zxing", 3.0).as_row()
        for i in range(count)
    ]  # fmt: skip
    with store._db.atomic():  # a bench shortcut: EventStore.record commits each event, 100,000 fsyncs
        store._db.conn.executemany(
            f"INSERT INTO events ({', '.join(rows[0])}) VALUES ({', '.join(':' + c for c in rows[0])})",  # noqa: S608
            rows,
        )
        store._db.execute("INSERT INTO boot_sequence VALUES (?, ?)", [boot, count])
    return {row["event_id"] for row in rows}


def serve(db_url: str, work: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`kiosk-central serve` on a free loopback port, with a venue and an enrolment code: (process, url, code)."""
    engine = connect(db_url)
    with engine.begin() as conn:
        add_unit(conn, "B", "Bench", None, utcnow())
        add_venue(conn, "BENCH", "Bench gate", "B", "factory", utcnow())
        code = make_enroll_code(conn, "BENCH", utcnow())
    engine.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "central", "--db", db_url, "--secret-file", str(work / "c.secret"), "serve"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}", code
        time.sleep(0.1)
    raise SystemExit("central server did not start")


def run_gate(config: KioskConfig, folder: Path, until: threading.Event | None) -> list[float]:
    kiosk = assemble(config, source=ImageFolderSource(folder, fps=15, loop=until is not None))
    kiosk.start()
    stop = threading.Event()
    if until is not None:
        threading.Thread(target=lambda: (until.wait(), stop.set()), daemon=True).start()
    try:
        kiosk.run(stop, until_end=until is None)
    finally:
        kiosk.close()
    return list(kiosk.metrics.decision_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--db", help="central database URL (default: SQLite in a temporary directory)")
    parser.add_argument("--outage-s", type=float, default=0, help="run this long with the centre unreachable first")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        work = Path(tmp)
        folder = work / "frames"
        folder.mkdir()
        for i, frame in enumerate(frames_for(60, 4, np.random.default_rng(2))):
            cv2.imwrite(str(folder / f"{i:05d}.png"), frame)
        base = {"camera": {"realtime": True}, "decode": {"decoders": ["zxing", "pyzbar"]}, "log": {"level": "WARNING"}}
        base["status_page"] = {"enabled": False}  # not measured here, and its port may be taken
        baseline = run_gate(KioskConfig.model_validate({**base, "state_dir": str(work / "baseline")}), folder, None)
        server, url, code = serve(args.db or f"sqlite:///{work / 'central.db'}", work)
        try:
            if args.outage_s:
                result = outage(work, base, folder, url, code, args.events, args.outage_s)
            else:
                result = drain(work, base, folder, url, code, args.events)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    database = "postgresql" if args.db else "sqlite"
    name = "outage" if args.outage_s else "drain"
    summary = {"benchmark": name, "machine": machine(), "events": args.events, "central_db": database}
    emit({**summary, "loop_without_sync_ms": pct(baseline), **result}, args.json)


def drain(work: Path, base: dict[str, Any], folder: Path, url: str, code: str, count: int) -> dict[str, Any]:
    config = KioskConfig.model_validate({**base, "state_dir": str(work / "kiosk"), "sync": {"poll_s": 0.2}})
    enrol_device(config, url, code, None)
    store = EventStore(config.database_path)
    backlog(store, count)
    store.close()
    drained = threading.Event()
    started = time.monotonic()
    watcher = threading.Thread(target=_watch, args=(config.database_path, drained), daemon=True)
    watcher.start()
    latencies = run_gate(config, folder, drained)  # the gate runs (and sync with it) until the backlog is gone
    seconds = time.monotonic() - started
    return {
        "drain_s": round(seconds, 1),
        "events_per_s": round(count / seconds),
        "loop_during_drain_ms": pct(latencies),
    }


def outage(
    work: Path, base: dict[str, Any], folder: Path, url: str, code: str, count: int, offline_s: float
) -> dict[str, Any]:
    """`drain`, after `offline_s` seconds of gate work with the centre unreachable: one kiosk all through, its
    sync thread backing off while the centre is away and noticing by itself that it is back."""
    config = KioskConfig.model_validate({**base, "state_dir": str(work / "kiosk"), "sync": {"poll_s": 0.2}})
    with FaultProxy(url) as proxy:
        enrol_device(config, proxy.url, code, None)
        store = EventStore(config.database_path)
        backlog(store, count)
        store.close()
        proxy.plan = FaultPlan(odds={reset_before(): 1.0}, paths=("/",))  # the centre is unreachable
        kiosk = assemble(config, source=ImageFolderSource(folder, fps=15, loop=True))
        stop, marks = threading.Event(), {}
        script = threading.Thread(target=_outage_script, args=(kiosk, config, proxy, offline_s, stop, marks))
        kiosk.start()
        script.start()
        try:
            kiosk.run(stop)
        finally:
            stop.set()
            kiosk.close()
            script.join()
        uploads = proxy.records("/api/v1/events")
        tried = sum(r.received < marks["returned"] for r in proxy.records())
    latencies = list(kiosk.metrics.decision_ms)
    taken = [r for r in uploads if r.upstream == 200]
    sizes = [len(json.loads(gzip.decompress(r.body))["events"]) for r in taken]
    return {
        "three_days_simulated": three_days_of_backoff(),
        "offline_s": offline_s,
        "requests_while_offline": tried,
        "loop_offline_ms": pct(latencies[: marks["decisions_offline"]]),
        "backlog_at_return": marks["backlog_at_return"],
        "return_to_first_upload_s": round(min(r.received for r in taken) - marks["returned"], 1),
        "drain_s": round(marks["drained"] - marks["returned"], 1),
        "uploads": len(taken),
        "largest_upload_events": max(sizes),
        "loop_during_drain_ms": pct(latencies[marks["decisions_offline"] :]),
    }


def _outage_script(
    kiosk: Any, config: KioskConfig, proxy: FaultProxy, offline_s: float, stop: threading.Event, marks: dict[str, Any]
) -> None:
    """Offline for `offline_s`, then the network returns; stops the gate once its backlog is gone (or after 20
    minutes: the backoff's cap is 5)."""
    if stop.wait(offline_s):
        return
    marks["decisions_offline"] = len(kiosk.metrics.decision_ms)
    reader = EventStore(config.database_path, read_only=True)
    try:
        marks["backlog_at_return"] = reader.status(0).unsent
        proxy.plan = FaultPlan()  # the network is back
        marks["returned"] = time.monotonic()
        while reader.status(0).unsent > 0 and time.monotonic() - marks["returned"] < 1200 and not stop.is_set():
            time.sleep(0.1)
        marks["drained"] = time.monotonic()
    finally:
        reader.close()
        stop.set()


def three_days_of_backoff() -> dict[str, float]:
    """The kiosk's Backoff through three days of failures on a simulated clock (seconds, no sleeping): how often
    a kiosk knocks at a centre that is down, in its first minute, first hour and three days; when its ceiling
    first reaches the cap; and its longest wait."""
    backoff, now, times, waits, capped_at = Backoff(rng=random.Random(3)), 0.0, [], [], None
    while now < 3 * 86400:
        if capped_at is None and backoff.base_s * 2**backoff.failures >= backoff.cap_s:
            capped_at = now
        waits.append(backoff.delay())
        times.append(now)
        now += waits[-1]
    return {
        "attempts": len(waits),
        "attempts_first_minute": sum(t < 60 for t in times),
        "attempts_first_hour": sum(t < 3600 for t in times),
        "at_cap_after_s": round(capped_at or 0.0, 1),
        "longest_wait_s": round(max(waits), 1),
        "base_s": backoff.base_s,
        "cap_s": backoff.cap_s,
    }


def _watch(database: Path, drained: threading.Event) -> None:
    reader = EventStore(database, read_only=True)
    while reader.status(0).unsent > 0:
        time.sleep(0.2)
    drained.set()


if __name__ == "__main__":
    main()
