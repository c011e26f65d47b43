"""A province's centre through repeated failovers: what two uploading kiosks see when the primary dies.

One pg_auto_failover formation on loopback (tests/pg_ha.py: a monitor, a primary and a hot standby, run by
`pg_autoctl`, the monitor tuned to give up on a silent node within about two seconds), one centre (uvicorn in
this process, tests/central_fixtures.py's CentralServer) on the multi-host URL with
`target_session_attrs=read-write`, and two kiosks uploading 20-event batches in a loop, each batch retried until
held (Retry-After honoured: the centre answers 503 with Retry-After: 1 while the database is away).

Each run: both kiosks store a few batches, the primary's machine dies (SIGKILL to its keeper and postmaster),
the monitor promotes the standby, both kiosks store a few more batches, the uploads stop; then the dead node's
keeper is run again, it rejoins as the standby, and the next run kills the other node. With --death postmaster,
only the primary's postmaster is killed: its keeper restarts it, and the monitor may or may not have failed
over first (counted). Per run: seconds from the kill to the monitor's promotion (machine deaths), to each
kiosk's first batch held after the kill, and to a primary with its standby again; at the end, events lost
(sent, not held by the last primary) and duplicated (extra rows for one event id), which must both be 0.
Baseline, same run: the time of one upload with no failover.

    .venv/bin/python bench/failover.py [--runs 20] [--death machine|postmaster] [--json]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from central_fixtures import CentralServer, DeviceClient, device_time, enrolled_device, make_events  # noqa: E402
from pg_ha import Formation, Uploader, available, held_once  # noqa: E402

from central.db import resolve_url  # noqa: E402

BEFORE = AFTER = 3  # batches each kiosk stores before the kill and after the first one held after it


def figures(samples: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(np.asarray(samples), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "max": round(max(samples), 3), "n": len(samples)}


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s} s")
        time.sleep(0.02)


def baseline(device: DeviceClient, rounds: int) -> list[float]:
    """Seconds of one 20-event upload with the formation healthy."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = device.upload(make_events(20), clock=device_time())
        samples.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"baseline upload: {answer.status_code} {answer.text[:200]}")
    return samples


def one_run(formation: Formation, devices: list[DeviceClient], number: int, death: str) -> dict[str, Any]:
    old, standby = formation.settle(90)
    kiosks = [Uploader(d, boot=f"run-{number}-{d.name}") for d in devices]
    promoted_s = None
    try:
        for kiosk in kiosks:
            kiosk.start()
        wait_for(lambda: all(len(k.held_at) >= BEFORE for k in kiosks), 30, "uploads before the kill")
        killed_at = time.monotonic()
        if death == "machine":
            formation.kill(old)
            formation.wait_states({standby.port: ("wait_primary", "primary")}, 60)
            promoted_s = round(time.monotonic() - killed_at, 3)
        else:
            formation.kill_postmaster(old)
        wait_for(lambda: all(k.first_held_after(killed_at) for k in kiosks), 60, "an upload after the kill")
        held = [len(k.held_at) for k in kiosks]
        wait_for(lambda: all(len(k.held_at) >= h + AFTER for k, h in zip(kiosks, held, strict=True)), 30, "drain")
    finally:
        for kiosk in kiosks:
            kiosk.finish()
    rejoin_started = time.monotonic()
    if death == "machine":
        formation.restart(old)
    primary, _ = formation.settle(90)
    return {
        "killed": old.name,
        "failed_over": primary is not old,
        "promoted_s": promoted_s,
        "first_upload_after_kill_s": [round(k.first_held_after(killed_at) or -1, 3) for k in kiosks],
        "settled_s": round(time.monotonic() - rejoin_started, 3),
        "statuses": [dict(k.statuses) for k in kiosks],
        "bad_answers": [b for k in kiosks for b in k.bad],
        "sent": set().union(*(k.sent for k in kiosks)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline-rounds", type=int, default=50)
    parser.add_argument(
        "--death", choices=["machine", "postmaster"], default="machine",
        help="SIGKILL the primary's keeper and postmaster (machine), or its postmaster alone",
    )  # fmt: skip
    parser.add_argument(
        "--no-tls", action="store_true",
        help="plain TCP between the nodes and from the centre (BENCHMARKS.md's issue 18 figures were measured so)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    why = available()
    if why:
        sys.exit(f"failover bench: {why}")
    runs: list[dict[str, Any]] = []
    sent: set[str] = set()
    started = time.monotonic()
    with Formation(tls=not args.no_tls) as formation, CentralServer(resolve_url(formation.url)) as server:
        devices = [enrolled_device(server, name=f"gate-{n}") for n in (1, 2)]
        base = baseline(devices[0], args.baseline_rounds)
        for number in range(1, args.runs + 1):
            run = one_run(formation, devices, number, args.death)
            sent |= run.pop("sent")
            runs.append(run)
            print(f"run {number}: {run}", file=sys.stderr)
        lost, duplicated = held_once(server.engine, sent)
        for device in devices:
            device.close()
    promoted = [r["promoted_s"] for r in runs if r["promoted_s"] is not None]
    after_kill = [s for r in runs for s in r["first_upload_after_kill_s"]]
    bad = [b for r in runs for b in r["bad_answers"]]
    ok = lost == 0 and duplicated == 0 and not bad and all(s > 0 for s in after_kill)
    emit({
        "runs": len(runs),
        "baseline_upload_s": figures(base),
        "death": args.death,
        "failed_over": sum(r["failed_over"] for r in runs),
        "kill_to_promotion_s": figures(promoted) if promoted else None,
        "kill_to_first_upload_s": figures(after_kill),
        "settled_again_s": figures([r["settled_s"] for r in runs]),
        "events_sent": len(sent), "lost": lost, "duplicated": duplicated, "bad_answers": bad[:10],
        "wall_s": round(time.monotonic() - started, 1), "per_run": runs, "ok": ok,
        "threads_left": threading.active_count(), "machine": machine(),
    }, args.json)  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
