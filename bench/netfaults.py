"""Exactly once through a bad network: 10,000 events uploaded through a fault proxy failing 20 % of requests.

A real central server (LocalCentral: uvicorn on loopback, SQLite) and tests/faultproxy.py run in this process.
For each way of failing, a newly enrolled kiosk's store holds --events unsent events and its real sync thread
(SyncWorker, CentralClient, the kiosk's own Backoff: full jitter from 20 ms, doubling over failures in a row up
to 300 s, Retry-After honoured) drains them through the proxy, which fails --rate of the upload requests that way:

- 500 and 503 answers; 429 with Retry-After: 1;
- a stall: the proxy reads the request and says nothing for 3 times the client's read timeout;
- a reset before the request reaches the server; a reset after the server committed (the answer is lost);
- all of these mixed, --rate in all.

The client's read timeout is --timeout-s (2 s; the kiosk's is 20 s, which would make the stall run last 40
minutes and measure nothing else). Baseline, same run: the same drain with no faults.

Per run: drain time, requests and faults, events offered again after a lost answer, lost (the kiosk's events
the centre does not hold) and duplicated (extra rows at the centre for one event id). With the baseline in the
run, also the drain against it, and the target (issue 12, item 17): twice the baseline, plus what no client can
save: the read timeout of each stall, and the Retry-After of each 429, which the kiosk waits in full.

    .venv/bin/python bench/netfaults.py [--events 10000] [--batch 50] [--rate 0.2] [--json]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine
from drain import backlog

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

from faultproxy import (  # noqa: E402
    PASS,
    Action,
    FaultPlan,
    FaultProxy,
    answer,
    offered_to_server,
    reset_after,
    reset_before,
    stall,
)
from sqlalchemy import select  # noqa: E402

import kiosk.sync.client  # noqa: E402
from central.schema import events as central_events  # noqa: E402
from kiosk.clock import SystemClock  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.demo.central import LocalCentral  # noqa: E402
from kiosk.store import EventStore  # noqa: E402
from kiosk.sync.backoff import Backoff  # noqa: E402
from kiosk.sync.client import CentralClient  # noqa: E402
from kiosk.sync.enrol import enrol_device  # noqa: E402
from kiosk.sync.identity import load_key  # noqa: E402
from kiosk.sync.worker import SyncTimers, SyncWorker  # noqa: E402

SECRET = bytes(range(32))
UPLOADS = "/api/v1/events"
BASELINE = "none (baseline)"
RETRY_AFTER_S = 1


def ways(timeout_s: float) -> dict[str, list[Action]]:
    each = [answer(500), answer(503), answer(429, retry_after=RETRY_AFTER_S), stall(3 * timeout_s)]
    each += [reset_before(), reset_after()]
    return {BASELINE: [], **{a.label: [a] for a in each}, "all mixed": each}


def judged(run: dict[str, Any], baseline_s: float, timeout_s: float) -> dict[str, Any]:
    """`run` with its drain against the same run's baseline, and the target: 2x the baseline, plus each stall's
    timeout and each 429's Retry-After (waits the kiosk cannot, or must not, cut short)."""
    faults = run["faults"]
    target = 2 * baseline_s + faults.get("stall", 0) * timeout_s + faults.get("429", 0) * RETRY_AFTER_S
    ratio = round(run["drain_s"] / baseline_s, 2)
    return {**run, "vs_baseline": ratio, "target_s": round(target, 1), "within_target": run["drain_s"] <= target}


def drain(
    central: LocalCentral, work: Path, number: int, faults: list[Action], args: argparse.Namespace
) -> dict[str, Any]:
    venue = f"NET-{number}"
    code = central.venue_with_code((f"N{number}", "Tỉnh thử"), (venue, "Cổng thử"), "factory")
    config = KioskConfig.model_validate({"state_dir": str(work / f"state-{number}")})
    odds = {a: args.rate / len(faults) for a in faults}
    with FaultProxy(central.url) as proxy:
        enrolment = enrol_device(config, proxy.url, code, None)
        store = EventStore(config.database_path)
        try:
            ids = backlog(store, args.events, boot=SystemClock().boot_id, device=enrolment.device_id, venue=venue)
            proxy.plan = FaultPlan(odds=odds, seed=args.seed + number, paths=(UPLOADS,))
            worker = SyncWorker(
                database=config.database_path,
                state_dir=config.state_dir,
                client=CentralClient(proxy.url, enrolment.device_id, load_key(config.state_dir)),
                clock=SystemClock(),
                heartbeat=lambda s: {"backlog": s.status(0).unsent},
                alarm=lambda _: None,
                timers=SyncTimers(poll_s=0.1, heartbeat_s=3600, config_s=3600),
                backoff=Backoff(rng=random.Random(args.seed)),
                batch=args.batch,
            )
            started = time.monotonic()
            worker.start()
            try:
                while store.status(0).unsent and time.monotonic() - started < args.limit_s:
                    time.sleep(0.05)
                drain_s = time.monotonic() - started
            finally:
                worker.stop()
            unsent = store.status(0).unsent
        finally:
            store.close()
        deadline = time.monotonic() + 15
        while not all(r.done for r in proxy.records()) and time.monotonic() < deadline:
            time.sleep(0.05)  # stalled requests the client gave up on: let them finish
        records = proxy.records(UPLOADS)
        with central.engine.begin() as conn:
            c = central_events.c
            rows = conn.execute(select(c.event_id, c.boot_id, c.seq).where(c.device_id == enrolment.device_id)).all()
            held = [row.event_id for row in rows]
            passages = {(row.boot_id, row.seq) for row in rows}
    faulted = Counter(r.label for r in records if r.label != PASS.label)
    return {
        "events": args.events,
        "drain_s": round(drain_s, 2),
        "events_per_s": round(args.events / drain_s),
        "requests": len(records),
        "faulty_requests": sum(faulted.values()),
        "faults": dict(faulted),
        "offered_again": sum(n - 1 for n in offered_to_server(records).values()),
        "lost": len(ids - set(held)),
        "duplicated": len(held) - min(len(set(held)), len(passages)),  # by id, and by (boot, sequence)
        "unknown": len(set(held) - ids),
        "unsent_at_end": unsent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="events per upload (the kiosk's default is 500)")
    parser.add_argument("--rate", type=float, default=0.2, help="share of upload requests that fail")
    parser.add_argument("--timeout-s", type=float, default=2.0, help="the client's connect and read timeout")
    parser.add_argument("--limit-s", type=float, default=900, help="give up on a drain after this long")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--only", help="run only the ways whose name contains this (and the baseline)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    kiosk.sync.client.TIMEOUT = (args.timeout_s, args.timeout_s)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kiosk-netfaults-") as tmp, LocalCentral(Path(tmp), SECRET) as central:
        for number, (name, faults) in enumerate(ways(args.timeout_s).items(), 1):
            if args.only and args.only not in name and name != BASELINE:  # the baseline always runs
                continue
            runs[name] = drain(central, Path(tmp), number, faults, args)
            if BASELINE in runs:
                runs[name] = judged(runs[name], runs[BASELINE]["drain_s"], args.timeout_s)
            print(f"{name}: {runs[name]}", file=sys.stderr)
    ok = all(r["lost"] == 0 and r["duplicated"] == 0 and r["unsent_at_end"] == 0 for r in runs.values())
    emit({"runs": runs, "ok": ok, "settings": {k: v for k, v in vars(args).items() if k != "json"},
          "threads_left": threading.active_count(), "machine": machine()}, args.json)  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
