"""Crash loop: a kiosk SIGKILLed again and again, then drained. Nothing committed may be lost or held twice.

A real central server (LocalCentral: uvicorn on loopback, SQLite) and tests/faultproxy.py run in this process and
outlive every kiosk. The kiosk is the real `kiosk run` (bench/chaos_kiosk.py adds only the reporting and the
aiming) on a replay of distinct codes at 60 fps, uploading in small batches. Each round starts it and SIGKILLs
it at one of four points, in turn:

- commit: inside the store's transaction (sequence number taken, row not yet written), at a random recording;
- upload: while the proxy holds the answer to an upload the server has already committed;
- config: while a status list the centre changed just before the round is half way to disk (written to the
  temporary file, not yet renamed);
- random: at a random time (which also lands in fsyncs, heartbeats and start-up).

After each kill: `PRAGMA integrity_check` on the kiosk's database, and every list file must still load. After
the last: the network is made clean and `kiosk sync --once` drains. Then:

- scanned: recordings the loop asked for; committed: events in the kiosk's database;
- on_server: the centre's rows for the kiosk's device;
- lost: events the kiosk committed, or reported committed to its loop (the gate may have opened), that the
  centre does not hold; duplicated: rows at the centre beyond one per passage (one event id, and one boot and
  sequence number, each), plus (boot, sequence) numbers used twice at the kiosk.

    .venv/bin/python bench/chaos.py --kills 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from faultproxy import FaultPlan, FaultProxy, answer, delay, offered_to_server, reset_after  # noqa: E402
from latency import frames_for  # noqa: E402
from sqlalchemy import select  # noqa: E402

from central.lists import set_status  # noqa: E402
from central.schema import events as central_events  # noqa: E402
from central.timeutil import utcnow  # noqa: E402
from kiosk.credentials.trust import TrustStore  # noqa: E402
from kiosk.demo.central import LocalCentral  # noqa: E402
from kiosk.policy.statuslist import StatusList  # noqa: E402
from kiosk.sync.identity import load_enrolment  # noqa: E402

SECRET = bytes(range(32))
POINTS = ("commit", "upload", "config", "random")
VENUE = "CHAOS-GATE"
# Uploads: half the answers come late (so kills land while one is held), some are lost after the server
# committed, some are refused for a while.
UPLOAD_FAULTS = {delay(0.3): 0.45, reset_after(): 0.05, answer(503): 0.05}
CONFIG = """
[camera]
realtime = true
loop = true
fps = 60
[decode]
decoders = ["zxing"]
[log]
level = "INFO"
[status_page]
enabled = false
[sync]
batch = 5
poll_s = 0.1
heartbeat_s = 5
config_s = 10
"""


@dataclass
class Tally:
    kills: Counter[str] = field(default_factory=Counter)  # by point, the kill landed where aimed
    missed: Counter[str] = field(default_factory=Counter)  # the point was not reached in time: killed anyway
    exited: Counter[int] = field(default_factory=Counter)  # runs that ended by themselves (should be none)
    integrity_failures: list[str] = field(default_factory=list)
    list_failures: list[str] = field(default_factory=list)
    scanned: int = 0
    reported: set[str] = field(default_factory=set)
    round_s: list[float] = field(default_factory=list)


class Reports:
    """Reads the lines a chaos kiosk writes to its pipe, in a thread; `wait_for` a line starting with a prefix."""

    def __init__(self, reader: IO[bytes], tally: Tally) -> None:
        self._reader = reader
        self._tally = tally
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._reader:
            line = raw.decode().strip()
            with self._changed:
                if line == "scan":
                    self._tally.scanned += 1
                elif line.startswith("ok "):
                    self._tally.reported.add(line[3:])
                self._lines.append(line)
                self._changed.notify_all()

    def wait_for(self, line: str, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: line in self._lines, timeout)

    def join(self) -> None:
        self._thread.join(timeout=10)


def kiosk_command(script: Path, *args: str, config: Path, state: Path) -> list[str]:
    return [sys.executable, str(script), *args, "--config", str(config), "--state-dir", str(state)]


def one_round(point: str, run: list[str], proxy: FaultProxy, central: LocalCentral, tally: Tally,
              rng: random.Random, log: IO[bytes]) -> None:  # fmt: skip
    """Start the kiosk, SIGKILL it at `point`, wait for it to be gone."""
    env = {**os.environ, "KIOSK_CHAOS_POINT": point if point in ("commit", "config") else ""}
    if point == "commit":
        env["KIOSK_CHAOS_AT"] = str(rng.randint(1, 25))
    if point == "config":
        env["KIOSK_CHAOS_AT"] = "1"
        with central.engine.begin() as conn:  # a change the kiosk will pull, and write, as it starts
            set_status(conn, secrets.token_hex(16), rng.choice(["red", "yellow"]), None, utcnow())
    read_end, write_end = os.pipe()
    env["KIOSK_CHAOS_FD"] = str(write_end)
    holds = proxy.holds
    started = time.monotonic()
    process = subprocess.Popen(run, env=env, pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=log)
    os.close(write_end)
    reports = Reports(os.fdopen(read_end, "rb"), tally)
    try:
        if point == "upload":
            reached = proxy.wait_for_hold(after=holds, timeout=8)
        elif point in ("commit", "config"):
            reached = reports.wait_for(f"at {point}", timeout=8)
        else:
            time.sleep(rng.uniform(0.05, 2.0))
            reached = True
        if process.poll() is not None:
            tally.exited[process.returncode] += 1
        else:
            process.send_signal(signal.SIGKILL)
            (tally.kills if reached else tally.missed)[point] += 1
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        reports.join()
    tally.round_s.append(time.monotonic() - started)


def check_state(state: Path, tally: Tally, round_no: int) -> None:
    """After a kill: the database passes integrity_check and every list file the kiosk holds still loads."""
    database = state / "events.db"
    if database.exists():
        with sqlite3.connect(database, timeout=10) as conn:  # read-write: a crashed WAL is recovered on open
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            tally.integrity_failures.append(f"round {round_no}: {result[:3]}")
    for name, load in (("status-list.json", StatusList.from_json), ("trust-list.json", TrustStore.from_json)):
        path = state / name
        if path.exists():
            try:
                load(json.loads(path.read_text(encoding="utf-8")))
            except Exception as exc:  # any failure to load is the finding
                tally.list_failures.append(f"round {round_no}: {name}: {type(exc).__name__}: {exc}")


def kiosk_events(database: Path) -> tuple[set[str], int, int]:
    """The kiosk's event ids, how many are not marked sent, and how many (boot, sequence) pairs are used twice."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        ids = {row[0] for row in conn.execute("SELECT event_id FROM events")}
        (unsent,) = conn.execute("SELECT COUNT(*) FROM events WHERE sent_at IS NULL").fetchone()
        (reused,) = conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events GROUP BY boot_id, seq HAVING COUNT(*) > 1)"
        ).fetchone()
    return ids, unsent, reused


def centre_events(central: LocalCentral, device_id: str) -> tuple[set[str], int, int]:
    """The centre's event ids from this device, its row count for them, and how many rows repeat a (boot,
    sequence) pair of another row: the same passage under a new id would show there, not as a repeated id."""
    c = central_events.c
    with central.engine.begin() as conn:
        rows = conn.execute(select(c.event_id, c.boot_id, c.seq).where(c.device_id == device_id)).all()
    passages = {(row.boot_id, row.seq) for row in rows}
    return {row.event_id for row in rows}, len(rows), len(rows) - len(passages)


def write_frames(folder: Path, people: int) -> None:
    folder.mkdir(parents=True)
    for i, frame in enumerate(frames_for(people, 2, np.random.default_rng(7))):
        cv2.imwrite(str(folder / f"{i:05d}.png"), frame)


def run(kills: int, seed: int, work: Path, budget_s: float) -> dict[str, Any]:
    started = time.monotonic()
    rng = random.Random(seed)
    write_frames(work / "frames", people=150)
    config, state, log_path = work / "kiosk.toml", work / "state", work / "kiosk.log"
    config.write_text(CONFIG, encoding="utf-8")
    (work / "central").mkdir()
    script = ROOT / "bench" / "chaos_kiosk.py"
    tally = Tally()
    with LocalCentral(work / "central", SECRET) as central, FaultProxy(central.url) as proxy:
        code = central.venue_with_code(("CHAOS", "Tỉnh thử"), (VENUE, "Cổng thử"), "factory")
        enrol = kiosk_command(script, "enroll", "--server", proxy.url, "--code", code, config=config, state=state)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            enrolled = subprocess.run(enrol, env={**os.environ, "KIOSK_CHAOS_FD": str(devnull)}, pass_fds=(devnull,),
                                      capture_output=True, text=True, timeout=60)  # fmt: skip
        finally:
            os.close(devnull)
        if enrolled.returncode != 0:
            raise SystemExit(f"enrolment failed: {enrolled.stderr}")
        enrolment = load_enrolment(state)
        if enrolment is None:
            raise SystemExit(f"enrolment left no record in {state}")
        device_id = enrolment.device_id

        proxy.plan = FaultPlan(odds=UPLOAD_FAULTS, seed=rng.randrange(2**32))
        run_cmd = kiosk_command(script, "run", "--source", str(work / "frames"), config=config, state=state)
        done = 0
        with log_path.open("ab") as log:
            for done in range(1, kills + 1):
                one_round(POINTS[(done - 1) % len(POINTS)], run_cmd, proxy, central, tally, rng, log)
                check_state(state, tally, done)
                if time.monotonic() - started > budget_s:
                    break

        proxy.plan = FaultPlan()  # the network is clean again: drain
        drain_started = time.monotonic()
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            drained = subprocess.run(
                kiosk_command(script, "sync", "--once", "--json", config=config, state=state),
                env={**os.environ, "KIOSK_CHAOS_FD": str(devnull)},
                pass_fds=(devnull,),
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            os.close(devnull)
        drain_s = time.monotonic() - drain_started
        deadline = time.monotonic() + 10
        while not all(r.done for r in proxy.records()) and time.monotonic() < deadline:
            time.sleep(0.05)  # answers still held for a killed kiosk: let the proxy finish with them
        check_state(state, tally, done + 1)
        kiosk_ids, unsent, reused = kiosk_events(state / "events.db")
        server_ids, server_rows, repeated = centre_events(central, device_id)
        resent = sum(n - 1 for n in offered_to_server(proxy.records("/api/v1/events")).values())

    logged = log_path.read_text(encoding="utf-8", errors="replace")
    committed_anywhere = kiosk_ids | tally.reported
    result = {
        "scanned": tally.scanned,
        "committed": len(kiosk_ids),
        "on_server": server_rows,
        "lost": len(committed_anywhere - server_ids),
        "duplicated": max(server_rows - len(server_ids), repeated) + reused,
        "integrity_ok": not tally.integrity_failures,
        "lists_ok": not tally.list_failures,
        "kills": sum(tally.kills.values()) + sum(tally.missed.values()),
        "kills_by_point": dict(tally.kills),
        "missed_points": dict(tally.missed),
        "ended_by_themselves": dict(tally.exited),
        "reported_committed": len(tally.reported),
        "reported_but_not_in_store": len(tally.reported - kiosk_ids),
        "unknown_at_kiosk": len(server_ids - kiosk_ids),
        "unsent_after_drain": unsent,
        "drain": json.loads(drained.stdout) if drained.returncode == 0 else {"error": drained.stderr[-500:]},
        "drain_s": round(drain_s, 2),
        "offered_again_after_lost_answer": resent,
        "tracebacks_in_log": logged.count("Traceback"),
        "round_s": pct(tally.round_s),
        "elapsed_s": round(time.monotonic() - started, 1),
        "seed": seed,
        "integrity_failures": tally.integrity_failures[:5],
        "list_failures": tally.list_failures[:5],
        "machine": machine(),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs before the drain (the record: 1,000)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--budget-s", type=float, default=7200, help="stop killing after this many seconds")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiosk-chaos-") as work:
        result = run(args.kills, args.seed, Path(work), args.budget_s)
    emit(result, args.json)
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["integrity_ok"] and result["lists_ok"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
