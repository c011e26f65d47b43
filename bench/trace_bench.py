"""Contact tracing speed: `central.tracing.trace` over 14-day windows on PostgreSQL with 10 million events.

The database is filled by bench/gen_events.py (here, unless --reuse finds it filled already). People are drawn
three ways: at random (most pass a gate a couple of times a fortnight), in proportion to how often they pass
gates (a case found among the scans: busier, more visits, more contacts), and the 20 busiest of all. Each is
traced once over the last 14 days of the data, `now` at its end, after a few traces of others to warm the
connection up; the busy and the busiest with second-degree contacts too. Reported: the time of a trace (p50,
p95, max) and the visits and contacts found. The baseline, in the same run: the raw indexed SELECT of the
person's passages in the window, the least any trace must read. EXPLAIN shows how many of the daily partitions
that SELECT reads. The page cache is warm (the data was just loaded, or read by an earlier run): a 10-million
event database (3.7 GB with its indexes) fits in the memory of the server it needs.

    .venv/bin/python bench/trace_bench.py [--events 10000000] [--db URL] [--reuse] [--people 100] [--json]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from common import add_repo_to_path, emit, machine, pct
from gen_events import PEOPLE, activity, bench_url, fill, filled, subject_key

add_repo_to_path()

from sqlalchemy import Connection, Engine, create_engine, text  # noqa: E402

from central.tracevisits import MAX_VISIT, pruning_day  # noqa: E402
from central.tracing import trace  # noqa: E402

WINDOW = timedelta(days=14)
WARM_UP = 5
BUSIEST = 20
BASELINE = (
    "SELECT subject_key, venue_id, time, direction FROM events WHERE subject_key = %(k)s AND decision = 'ACCEPT' "
    "AND time >= %(low)s AND time <= %(high)s AND received_day >= %(day)s"
)


def sample(people: int, seed: int) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    drawn = rng.choice(PEOPLE, 2 * people + WARM_UP, replace=False)
    busy = rng.choice(PEOPLE, people, replace=False, p=activity())
    return {
        "warm_up": drawn[:WARM_UP].tolist(),
        "random": drawn[WARM_UP:][:people].tolist(),
        "busy": busy.tolist(),
        "busiest": list(range(BUSIEST)),  # gen_events makes person 0 the most active, then 1, ...
    }


def measure(engine: Engine, people: list[int], end: datetime, *, second_degree: bool = False) -> dict[str, Any]:
    trace_ms, baseline_ms, visits, contacts = [], [], [], []
    for person in people:
        key = subject_key(person)
        with engine.connect() as conn:
            started = time.perf_counter()
            rows = _baseline(conn, key, end)
            baseline_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            result = trace(conn, key, end - WINDOW, end, second_degree=second_degree, now=end)
            trace_ms.append((time.perf_counter() - started) * 1000)
        if not rows and result.visits:
            raise SystemExit(f"person {person}: visits found but no passages read by the baseline")
        visits.append(len(result.visits))
        contacts.append(len(result.contacts))
    return {
        "trace_ms": {**pct(trace_ms), "max": round(max(trace_ms), 1)},
        "baseline_ms": {**pct(baseline_ms), "max": round(max(baseline_ms), 1)},
        "under_2s": round(sum(ms < 2000 for ms in trace_ms) / len(trace_ms), 3),
        "visits": _spread(visits),
        "contacts": _spread(contacts),
    }


def _baseline(conn: Connection, key: str, end: datetime) -> list[Any]:
    low, high = end - WINDOW - MAX_VISIT, end + MAX_VISIT
    params = {"k": key, "low": low, "high": high, "day": pruning_day(low)}
    return list(conn.exec_driver_sql(BASELINE, params).all())


def _spread(counts: list[int]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(counts, 50)), 1),
        "p95": round(float(np.percentile(counts, 95)), 1),
        "max": max(counts),
    }


def partitions_read(engine: Engine, person: int, end: datetime) -> dict[str, int]:
    """Daily partitions the baseline's plan reads, of all there are (pruned by received_day)."""
    low = end - WINDOW - MAX_VISIT
    params = {"k": subject_key(person), "low": low, "high": end + MAX_VISIT, "day": pruning_day(low)}
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + BASELINE, params).scalar_one()
        held = conn.execute(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")).scalar()
    return {"held": int(held or 0), "read": len(set(_relations(plan)))}


def _relations(node: Any) -> list[str]:
    if isinstance(node, list):
        return [name for item in node for name in _relations(item)]
    if not isinstance(node, dict):
        return []
    found = [node["Relation Name"]] if str(node.get("Relation Name", "")).startswith("events_") else []
    return found + [name for value in node.values() for name in _relations(value)]


def server(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        settings = {name: conn.exec_driver_sql(f"SHOW {name}").scalar() for name in ("shared_buffers", "work_mem")}
        version = conn.exec_driver_sql("SHOW server_version").scalar()
    return {"postgresql": version, **settings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", help="PostgreSQL URL (default: kiosk_bench on scripts/test-postgres.sh's cluster)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds --events events")
    parser.add_argument("--people", type=int, default=100, help="people traced in each sample")
    parser.add_argument("--second-degree-people", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = bench_url(args.db)
    meta = filled(url, args.events) if args.reuse else None
    data = {"reused": True, **meta} if meta else {"reused": False, **fill(url, args.events, 7, 2)}
    end = datetime.fromtimestamp(data["end"], UTC)
    engine = create_engine(url, pool_size=1)
    try:
        people = sample(args.people, args.seed)
        measure(engine, people["warm_up"], end)
        results = {
            "random": measure(engine, people["random"], end),
            "busy": measure(engine, people["busy"], end),
            "busiest": measure(engine, people["busiest"], end),
            "busy_second_degree": measure(engine, people["busy"][: args.second_degree_people], end, second_degree=True),
            "busiest_second_degree": measure(engine, people["busiest"], end, second_degree=True),
        }
        partitions = partitions_read(engine, people["busy"][0], end)
        info = server(engine)
    finally:
        engine.dispose()
    emit({"benchmark": "trace", "machine": {**machine(), **info}, "data": data, "window_days": WINDOW.days,
          "partitions": partitions, **results}, args.json)  # fmt: skip


if __name__ == "__main__":
    main()
