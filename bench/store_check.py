"""What the damage check at start costs, and how long a salvage takes (issue 8, item 6).

A database of --events unsent events (default 100,000: about three days of a busy gate) is opened the way the
kiosk opens it at start, `open_store` (PRAGMA quick_check through a read-only connection, then the store), and,
as the baseline in the same run, as it was opened before the check existed (`EventStore(path)`); best of
--repeat. Then one page in the middle of the events table is overwritten with random bytes and `open_store` is
timed once more: detection, row-by-row salvage of the unsent events into a fresh store, the move aside.

    .venv/bin/python bench/store_check.py [--events 100000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best, machine

from kiosk.store import EventStore
from kiosk.store.salvage import open_store


def rows(count: int) -> list[dict[str, Any]]:
    boot = str(uuid.uuid4())
    return [
        {
            "event_id": str(uuid.uuid4()),
            "boot_id": boot,
            "seq": n + 1,
            "wall_time": 1_750_000_000.0 + n * 2.5,
            "mono_time": 100.0 + n * 2.5,
            "clock_synced": 1,
            "device_id": "gate-1",
            "venue": "BV-01",
            "direction": "in",
            "kind": "cccd",
            "subject_key": f"{n:032x}",
            "decision": "ACCEPT",
            "reason": "middle-marker" if n == count // 2 else "logged",
            "decoder": "zxing",
            "latency_ms": 12.5,
        }
        for n in range(count)
    ]


def run(events: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "events.db"
        store = EventStore(db)
        made = rows(events)
        store.restore(made, {made[0]["boot_id"]: events})
        store.close()
        size_mb = db.stat().st_size / 2**20
        plain = best(lambda: EventStore(db).close(), repeat)
        checked = best(lambda: open_store(db)[0].close(), repeat)
        data = db.read_bytes()
        page = int.from_bytes(data[16:18], "big")
        at = data.index(b"middle-marker") // page * page
        with db.open("r+b") as file:
            file.seek(at)
            file.write(random.Random(1).randbytes(page))
        started = time.perf_counter()
        store, recovery = open_store(db)
        salvage_s = time.perf_counter() - started
        store.close()
        assert recovery is not None
    return {
        "events": events,
        "database_mb": round(size_mb, 1),
        "open_plain_ms": round(plain * 1000, 1),
        "open_checked_ms": round(checked * 1000, 1),
        "check_cost_ms": round((checked - plain) * 1000, 1),
        "salvage_s": round(salvage_s, 2),
        "salvaged": recovery.salvaged,
        "lost": events - recovery.salvaged,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.events, args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['events']:,} events ({result['database_mb']} MB): open {result['open_plain_ms']} ms, "
        f"with the damage check {result['open_checked_ms']} ms; a garbled page: salvage in {result['salvage_s']} s, "
        f"{result['salvaged']:,} salvaged, {result['lost']} lost"
    )


if __name__ == "__main__":
    main()
