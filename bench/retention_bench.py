"""What the kiosk's hourly retention round costs on a full table, and what the WAL cap costs the frame loop.

A store of --events sent events spread evenly over retention_days (14) plus one hour, all recorded with a
synchronised clock (about 200,000: a busy gate's fortnight), so one round has an hour of events to delete.

- The search for the newest event past retention by a synchronised clock (`_LAST_PAST`, bounded by the oldest
  synchronised event still within retention), against the plain `MAX(rowid) ... WHERE clock_synced = 1 AND
  wall_time < cutoff`, which reads the whole table; and, as the baseline, the old rule's first batch query.
- A whole round (`Retention.purge`) against the old rule's round (the same batches with the old WHERE clause), each on
  a fresh copy of the table.
- `EventStore.record` (a committed, fsynced passage) with the store's connection as it is now (secure_delete on,
  journal_size_limit 1 MiB) and, as the baseline in the same run, with those two back at the build's defaults;
  alternating blocks of 250, --records in all.

Times are best of --repeat (queries) or p50/p95 (records), warm page cache.

    .venv/bin/python bench/retention_bench.py [--events 200000] [--records 2000] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_repo_to_path, best, emit, machine, pct

add_repo_to_path()

from kiosk.clock import FakeClock  # noqa: E402
from kiosk.events import Event  # noqa: E402
from kiosk.ids import uuid7  # noqa: E402
from kiosk.store import EventStore  # noqa: E402
from kiosk.store.retention import _LAST_PAST, DAY_S, Retention  # noqa: E402

NOW = 1_750_000_000.0
DAYS = 14
OLD_BATCH = """
    SELECT rowid FROM events
    WHERE sent_at IS NOT NULL AND quarantined_at IS NULL AND sent_at < :cutoff AND wall_time < :cutoff
    ORDER BY rowid LIMIT 500
"""
OLD_PURGE = f"DELETE FROM events WHERE rowid IN ({OLD_BATCH})"  # noqa: S608 (constant text)
FULL_MAX = "SELECT MAX(rowid) FROM events WHERE clock_synced = 1 AND wall_time < :cutoff"


def fill(path: Path, count: int) -> None:
    span = DAYS * DAY_S + 3600.0
    boot = str(uuid.uuid4())
    rows = []
    for n in range(count):
        at = NOW - span + n * span / count
        rows.append(
            {
                "event_id": str(uuid7()), "boot_id": boot, "seq": n + 1, "wall_time": at, "mono_time": 100.0 + n,
                "clock_synced": 1, "device_id": "gate-1", "venue": "V1", "direction": "in", "kind": "cccd",
                "subject_key": uuid.uuid4().hex, "decision": "ACCEPT", "reason": "logged", "decoder": "zxing",
                "latency_ms": 4.0, "sent_at": at + 60.0,
            }
        )  # fmt: skip
    store = EventStore(path)
    store.restore(rows, {boot: count})
    store.close()


def old_round(path: Path, cutoff: float) -> int:
    conn = sqlite3.connect(path, timeout=5)
    conn.execute("PRAGMA secure_delete = ON")
    removed = 0
    while True:
        with conn:
            count = conn.execute(OLD_PURGE, {"cutoff": cutoff}).rowcount
        removed += count
        if count < 500:
            break
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    conn.close()
    return removed


def timed_round(source: Path, work: Path, purge: Callable[[Path], int]) -> tuple[float, int]:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copy(source, work)
    started = time.perf_counter()
    removed = purge(work)
    return time.perf_counter() - started, removed


def records(path: Path, count: int) -> dict[str, dict[str, float]]:
    clock = FakeClock(NOW)
    capped = EventStore(path)
    plain = EventStore(path)
    default = sqlite3.connect(":memory:")
    (secure,) = default.execute("PRAGMA secure_delete").fetchone()
    default.close()
    plain._db.execute(f"PRAGMA secure_delete = {int(secure)}")  # the build's defaults, as before the change
    plain._db.execute("PRAGMA journal_size_limit = -1")
    samples: dict[str, list[float]] = {"capped": [], "plain": []}
    for block in range(count // 250):
        name, store = ("capped", capped) if block % 2 == 0 else ("plain", plain)
        for _ in range(250):
            event = Event(
                event_id=str(uuid7()), boot_id=clock.boot_id, seq=0, wall_time=clock.wall(),
                mono_time=clock.monotonic(), clock_synced=True, device_id="gate-1", venue="V1", direction="in",
                kind="cccd", subject_key=uuid.uuid4().hex, decision="ACCEPT", reason="logged", decoder="zxing",
                latency_ms=4.0,
            )  # fmt: skip
            started = time.perf_counter()
            store.record(event)
            samples[name].append((time.perf_counter() - started) * 1000)
    capped.close()
    plain.close()
    return {name: pct(values) for name, values in samples.items()}


def run(events: int, record_count: int, repeat: int) -> dict[str, Any]:
    cutoff = NOW - DAYS * DAY_S
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "full.db"
        fill(source, events)
        conn = sqlite3.connect(source)
        (last,) = conn.execute(_LAST_PAST, {"cutoff": cutoff}).fetchone()
        bounded = best(lambda: conn.execute(_LAST_PAST, {"cutoff": cutoff}).fetchone(), repeat)
        full = best(lambda: conn.execute(FULL_MAX, {"cutoff": cutoff}).fetchone(), repeat)
        old_batch = best(lambda: conn.execute(OLD_BATCH, {"cutoff": cutoff}).fetchall(), repeat)
        conn.close()
        work = Path(tmp) / "events.db"
        new_s, new_removed = timed_round(source, work, lambda p: Retention(p, DAYS).purge(NOW, clock_synced=True))
        old_s, old_removed = timed_round(source, work, lambda p: old_round(p, cutoff))
        record_ms = records(Path(tmp) / "records.db", record_count)
        size_mb = source.stat().st_size / 2**20
    return {
        "events": events,
        "database_mb": round(size_mb, 1),
        "past_retention": last,
        "search_bounded_ms": round(bounded * 1000, 3),
        "search_full_max_ms": round(full * 1000, 3),
        "baseline_old_first_batch_ms": round(old_batch * 1000, 3),
        "round_new_ms": round(new_s * 1000, 1),
        "round_new_deleted": new_removed,
        "baseline_round_old_ms": round(old_s * 1000, 1),
        "baseline_round_old_deleted": old_removed,
        "record_ms_capped": record_ms["capped"],
        "baseline_record_ms_build_defaults": record_ms["plain"],
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.records < 500:
        parser.error("--records must be at least 500: passages are timed in alternating blocks of 250")
    emit(run(args.events, args.records, args.repeat), args.json)


if __name__ == "__main__":
    main()
