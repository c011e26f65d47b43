#!/usr/bin/env python3
"""Access mode at scale (issue 15): a venue of 10,000 and 100,000 enrolled people.

For each size:
  decide_us    one whole decision in access mode (VenuePolicy.decide: denylist, status list, the access list),
               half enrolled people, half strangers; target under 1 ms at 100,000
  check_us     the access list's lookup alone (AccessList.check)
  baseline_us  a Python set lookup of the same text keys, the least any list could cost
  parse_ms     the kiosk reading the pulled list (AccessList.from_json), and the resident memory it adds
  list_bytes   the list as JSON, and gzip-compressed as the centre sends it
  pull_ms      (with the centre) importing the people from CSV at a real centre on SQLite, then the kiosk's
               real client pulling the list over loopback HTTP: the first pull (200) and an unchanged one (304)

    .venv/bin/python bench/access_bench.py --json
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import random
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, machine, pct
from kiosk.credentials import Credential, Kind
from kiosk.policy import VenuePolicy
from kiosk.policy.access import AccessList

GROUPS = [
    {"id": 1, "name": "staff", "windows": [{"days": [1, 2, 3, 4, 5], "start": "06:30", "end": "18:30"}]},
    {"id": 2, "name": "night-shift", "windows": [{"days": [1, 2, 3, 4, 5], "start": "22:00", "end": "24:00"}]},
    {"id": 3, "name": "contractors", "valid_until": "2030-12-31", "gates": ["gate-east"], "windows": []},
]


def keys(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(count)]


def document(people: list[str]) -> dict[str, Any]:
    groups = ([1], [2], [1, 3])
    return {
        "version": "1",
        "venue": "BENCH",
        "timezone": "Asia/Ho_Chi_Minh",
        "issued_at": datetime.now(UTC).isoformat(),
        "groups": GROUPS,
        "people": {key: groups[i % 3] for i, key in enumerate(people)},
    }


def rss_kb() -> int:
    with Path("/proc/self/status").open() as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def lookups(size: int, rounds: int) -> dict[str, Any]:
    people = keys(size, seed=size)
    strangers = keys(rounds // 2, seed=size + 1)
    raw = json.dumps(document(people)).encode()
    gc.collect()
    before = rss_kb()
    started = time.perf_counter()
    access = AccessList.from_json(json.loads(raw))
    parse_ms = (time.perf_counter() - started) * 1000
    added_mb = (rss_kb() - before) / 1024
    policy = VenuePolicy(mode="access", access=access, gate="gate-west", strangers="deny")
    rng = random.Random(7)
    asked = [rng.choice(people) for _ in range(rounds - len(strangers))] + strangers
    rng.shuffle(asked)
    monday_noon = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # 12:00 in Vietnam
    credential = Credential(Kind.CCCD)
    text_keys = set(people)
    decide, check, baseline = [], [], []
    for key in asked:
        started = time.perf_counter()
        policy.decide(credential, key, monday_noon)
        decide.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        access.check(key, monday_noon, "gate-west")
        check.append((time.perf_counter() - started) * 1e6)
        started = time.perf_counter()
        _ = key in text_keys
        baseline.append((time.perf_counter() - started) * 1e6)
    verdicts = {policy.decide(credential, key, monday_noon).reason for key in asked}
    return {
        "people": size,
        "decide_us": {**pct(decide), "max": round(max(decide), 1)},
        "check_us": {**pct(check), "max": round(max(check), 1)},
        "baseline_us": {**pct(baseline), "max": round(max(baseline), 1)},
        "verdicts": sorted(verdicts),
        "parse_ms": round(parse_ms, 1),
        "memory_added_mb": round(added_mb, 1),
        "list_bytes": len(raw),
        "list_gzip_bytes": len(gzip.compress(raw, 6)),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="venue sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=20000, help="decisions timed per size")
    parser.add_argument("--no-centre", action="store_true", help="skip the pull through a real centre")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    result: dict[str, Any] = {"benchmark": "access", "machine": machine(), "sizes": {}}
    for size in sizes:
        result["sizes"][str(size)] = lookups(size, args.rounds)
    if not args.no_centre:
        from bench.access_pull import pulls

        for size in sizes:
            result["sizes"][str(size)].update(pulls(size, keys(size, seed=size + 2)))
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="minutes")
    emit(result, args.json)


if __name__ == "__main__":
    main()
