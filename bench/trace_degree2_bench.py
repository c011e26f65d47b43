"""Second-degree contact tracing: the contacts' passages read at once against contact by contact (issue 18).

`central.tracing.trace(..., second_degree=True)` looks up whom the SECOND_DEGREE_TOP first-degree contacts with
the most overlap met. It used to do it one contact after the other: each contact's passages in one SELECT, then
everyone's passages around that contact's visits in more, paired again for each contact, though contacts who
met the traced person share their venues. Now the contacts' passages come in one SELECT and everyone's around
all their visits in a few (one range per venue where the contacts' overlap), paired once, and only where they
can make a visit that meets a contact's; on PostgreSQL the times are read as seconds (EXTRACT), not datetimes.

Three ways, timed in the same process on the same connection, data and page cache, their order turning from
one person to the next:
- `before`: the code as it was (copied below: datetimes converted in Python, a dataclass per passage, contact
  by contact);
- `read_faster`: contact by contact, with today's reading of passages: what the reading alone gives;
- `after`: today's `trace`.
Each result is compared with `before`'s: they must be identical.

People: the 20 busiest (gen_events makes person 0 the most active) and --people drawn in proportion to how often
they pass gates, as bench/trace_bench.py draws them; a 14-day window ending at the data's end, `now` at its end.
Reported per sample: the whole trace with second degree (p50, p95, max) each way, the trace without it, the
SELECTs on `events` and the rows they returned, and the baseline of bench/trace_bench.py, the raw indexed SELECT
of the person's own passages in the window.

--covering-index first makes the index proposed for the passages around visits, COVERING below (each range
then read from the index alone, no row of the table visited), and drops it at the end: its build time and size
are reported. Without it, the project's indexes only. Since migration 0017 the schema has that index
(events_venue_presence) and bench/gen_events.py builds it: the option only matters on a database filled before.

    scripts/with-postgres.sh .venv/bin/python bench/trace_degree2_bench.py --events 10000000 [--json]
    .venv/bin/python bench/trace_degree2_bench.py --db URL --reuse --events 10000000 [--covering-index] [--json]
        [--people 20] [--busiest 20]

The database: --db, else kiosk_bench (made if missing) on the cluster of $KIOSK_TEST_PG_URL (as
scripts/with-postgres.sh sets it), else bench/gen_events.py's. Filled by bench/gen_events.py unless --reuse
finds it holding --events events already.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from common import add_repo_to_path, emit, machine, pct
from gen_events import _create_database, bench_url, fill, filled, subject_key
from trace_bench import WINDOW, _baseline, sample, server

add_repo_to_path()

from sqlalchemy import Connection, Engine, and_, create_engine, or_, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.event import listen, remove  # noqa: E402

import central.tracing  # noqa: E402
from central.db import resolve_url  # noqa: E402
from central.schema import events  # noqa: E402
from central.timeutil import aware  # noqa: E402
from central.tracevisits import MAX_VISIT, RANGES_PER_QUERY, _at, _utc, pruning_day  # noqa: E402
from central.tracing import SECOND_DEGREE_TOP, _Tally, _Tracer, trace  # noqa: E402

WAYS = ("before", "read_faster", "after")
COVERING = (
    "CREATE INDEX bench_events_venue_presence ON events (venue_id, time) INCLUDE (subject_key, direction, "
    "received_day) WHERE decision = 'ACCEPT' AND subject_key IS NOT NULL"
)
COVERING_BYTES = "SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree('bench_events_venue_presence')"


# The code as it was before (central/tracevisits.py and central/tracing.py), for `before`


@dataclass(frozen=True, slots=True)
class OldPassage:
    subject_key: str
    venue_id: int
    at: float
    direction: str


def old_subject_passages(conn: Connection, subject_keys: list[str], start: datetime, end: datetime) -> list[Any]:
    """`subject_passages` as it was; called by today's `visits_of` with one key, as `visits_of` called it."""
    (subject_key,) = subject_keys
    low, high = _utc(start) - MAX_VISIT, _utc(end) + MAX_VISIT
    query = select(events.c.subject_key, events.c.venue_id, events.c.time, events.c.direction).where(
        events.c.subject_key == subject_key,
        events.c.decision == "ACCEPT",
        events.c.time >= low,
        events.c.time <= high,
        events.c.received_day >= pruning_day(low),
    )
    return old_passages(conn.execute(query))


def old_venue_passages(conn: Connection, ranges: Sequence[tuple[int, float, float]]) -> list[Any]:
    found: list[OldPassage] = []
    for first in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[first : first + RANGES_PER_QUERY]
        within = [
            and_(events.c.venue_id == venue, events.c.time >= _at(low), events.c.time <= _at(high))
            for venue, low, high in chunk
        ]
        query = select(events.c.subject_key, events.c.venue_id, events.c.time, events.c.direction).where(
            or_(*within),
            events.c.decision == "ACCEPT",
            events.c.subject_key.is_not(None),
            events.c.received_day >= pruning_day(_at(min(low for _, low, _ in chunk))),
        )
        found.extend(old_passages(conn.execute(query)))
    return found


def old_passages(rows: Iterable[Any]) -> list[OldPassage]:
    return [OldPassage(key, venue, aware(at).timestamp(), direction) for key, venue, at, direction in rows]  # type: ignore[union-attr]


def per_contact(
    self: _Tracer, subject_key: str, first: dict[tuple[str, int], _Tally]
) -> list[tuple[tuple[str, int], tuple[_Tally, str]]]:
    """`_Tracer.second_degree` as it was before: for each contact, its visits, then whom it met."""
    total: dict[str, float] = {}
    for (key, _), tally in first.items():
        total[key] = total.get(key, 0.0) + tally.seconds
    top = sorted(total, key=lambda k: (-total[k], k))[:SECOND_DEGREE_TOP]
    exclude = {subject_key, *total}
    found: dict[tuple[str, int], tuple[_Tally, str]] = {}
    for via in top:
        for entry, tally in self.meet(self.visits_of(via), exclude).items():
            if entry not in found or tally.seconds > found[entry][0].seconds:
                found[entry] = (tally, via)
    return list(found.items())


@contextmanager
def way(name: str) -> Iterator[None]:
    """`trace` done `name`'s way for the duration."""
    old_reading = {"subjects_passages": old_subject_passages, "venue_passages": old_venue_passages}
    saved_reading = {attr: getattr(central.tracing, attr) for attr in old_reading}
    saved_second_degree = _Tracer.second_degree
    if name in ("before", "read_faster"):
        _Tracer.second_degree = per_contact  # type: ignore[method-assign]
    if name == "before":
        for attr, old in old_reading.items():
            setattr(central.tracing, attr, old)
    try:
        yield
    finally:
        _Tracer.second_degree = saved_second_degree  # type: ignore[method-assign]
        for attr, current in saved_reading.items():
            setattr(central.tracing, attr, current)


class Reads:
    """SELECTs on `events` and the rows they returned, counted on the engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.selects, self.rows = engine, 0, 0

    def after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM events" in statement:
            self.selects += 1
            self.rows += max(cursor.rowcount, 0)

    @contextmanager
    def counting(self) -> Iterator[Reads]:
        self.selects = self.rows = 0
        listen(self.engine, "after_cursor_execute", self.after)
        try:
            yield self
        finally:
            remove(self.engine, "after_cursor_execute", self.after)


def timed(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call(*args, **kwargs)
    return (time.perf_counter() - started) * 1000, result


def measure(engine: Engine, people: list[int], end: datetime) -> dict[str, Any]:
    ms: dict[str, list[float]] = {name: [] for name in WAYS}
    selects: dict[str, list[int]] = {name: [] for name in WAYS}
    rows: dict[str, list[int]] = {name: [] for name in WAYS}
    first_ms, baseline_ms, contacts, identical = [], [], [], 0
    reads = Reads(engine)
    for index, person in enumerate(people):
        key = subject_key(person)
        results = {}
        with engine.connect() as conn:
            took, _ = timed(_baseline, conn, key, end)
            baseline_ms.append(took)
            took, _ = timed(trace, conn, key, end - WINDOW, end, now=end)
            first_ms.append(took)
            for name in WAYS[index % 3 :] + WAYS[: index % 3]:
                with way(name), reads.counting():
                    took, result = timed(trace, conn, key, end - WINDOW, end, second_degree=True, now=end)
                ms[name].append(took)
                selects[name].append(reads.selects)
                rows[name].append(reads.rows)
                results[name] = result.as_json()
        identical += results["before"] == results["read_faster"] == results["after"]
        contacts.append(len(results["after"]["contacts"]))
    return {
        "second_degree_ms": {name: {**pct(ms[name]), "max": round(max(ms[name]), 1)} for name in WAYS},
        "speedup_p50": round(float(np.percentile(ms["before"], 50) / np.percentile(ms["after"], 50)), 2),
        "first_degree_ms": {**pct(first_ms), "max": round(max(first_ms), 1)},
        "baseline_ms": {**pct(baseline_ms), "max": round(max(baseline_ms), 1)},
        "selects_on_events_p50": {name: float(np.percentile(selects[name], 50)) for name in WAYS},
        "rows_read_p50": {name: float(np.percentile(rows[name], 50)) for name in WAYS},
        "contacts_p50": float(np.percentile(contacts, 50)),
        "identical": identical,
        "people": len(people),
    }


def make_covering_index(engine: Engine, events_held: int) -> dict[str, Any]:
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        conn.exec_driver_sql(COVERING)
    took = time.perf_counter() - started
    with engine.connect() as conn:
        size = int(conn.exec_driver_sql(COVERING_BYTES).scalar_one())
    return {"definition": COVERING, "build_s": round(took, 1), "bytes": size, "per_event": round(size / events_held, 1)}


def drop_covering_index(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX IF EXISTS bench_events_venue_presence")


def database(flag: str | None) -> str:
    """--db, else kiosk_bench on the cluster of $KIOSK_TEST_PG_URL, else as bench/gen_events.py finds it."""
    if flag or not os.environ.get("KIOSK_TEST_PG_URL"):
        return bench_url(flag)
    url = resolve_url(os.environ["KIOSK_TEST_PG_URL"])
    _create_database(url, "kiosk_bench")
    return bench_url(make_url(url).set(database="kiosk_bench").render_as_string(hide_password=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", help="PostgreSQL URL (default: kiosk_bench, see above)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds --events events")
    parser.add_argument("--people", type=int, default=20, help="people drawn by activity")
    parser.add_argument("--busiest", type=int, default=20, help="the busiest people traced")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--covering-index", action="store_true", help="measure with the proposed index (see above)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = database(args.db)
    meta = filled(url, args.events) if args.reuse else None
    data = {"reused": True, **meta} if meta else {"reused": False, **fill(url, args.events, 7, 2)}
    end = datetime.fromtimestamp(data["end"], UTC)
    engine = create_engine(url, pool_size=1)
    covering: dict[str, Any] | None = None
    try:
        covering = make_covering_index(engine, data["events"]) if args.covering_index else None
        drawn = sample(args.people, args.seed)
        measure(engine, drawn["warm_up"], end)
        results = {
            "busiest": measure(engine, drawn["busiest"][: args.busiest], end),
            "busy": measure(engine, drawn["busy"][: args.people], end),
        }
        info = server(engine)
    finally:
        if args.covering_index:
            drop_covering_index(engine)
        engine.dispose()
    mismatched = [name for name, found in results.items() if found["identical"] != found["people"]]
    about = {"machine": {**machine(), **info}, "data": data, "window_days": WINDOW.days, "top": SECOND_DEGREE_TOP}
    emit({"benchmark": "trace_degree2", **about, "covering_index": covering, **results}, args.json)
    if mismatched:
        raise SystemExit(f"the ways found different contacts: {', '.join(mismatched)}")


if __name__ == "__main__":
    main()
