"""Growth on one PostgreSQL node: load, bytes, ingest and trace at several sizes of `events` (docs/scale.md).

For each size, in one run: bench/gen_events.py fills the database (its timings: staging COPY, INSERT ... SELECT
into the daily partitions, index build, VACUUM ANALYZE); the bytes of `events` (heap and indexes, summed over its
partitions) are read; then bench/trace_bench.py's traces run on the fresh data (30 people at random, 30 drawn by
activity, the 20 busiest, and 10 by activity with second-degree contacts), each with its baseline, the raw
indexed SELECT of the person's passages. Last, the write path at that size: `central.ingest.ingest` (the
exactly-once claim in `event_keys`, the row in `events`, the rollup and the feed's order, one transaction per
batch of 500, as the API commits them) stores --ingest new events on one connection, without HTTP. Its baseline,
same run: the same rows COPYed into a table without indexes or partitions. The growth in bytes of the day's
partition, `event_keys` and `event_feed` gives the bytes per event written by ingest (indexes grown by random
inserts, not built in one pass).

With --index-cost, what migration 0017's index (events_venue_presence, what a trace reads at a venue) costs and
saves at that size, its baseline in the same run without it. After the ingest above, the second-degree sample is
traced again, then `alembic downgrade 0016` drops the index and it is traced once more, on the same data (the
ingested events are in its window: the first trace figures, before them, are not comparable); --ingest more
events are ingested without the index; `alembic upgrade head` builds it again as the migration does (one
transaction, the server's maintenance_work_mem), timed, while bench/migration_bench.py's probes (a one-row INSERT
into `events`, rolled back, and a venue's passages of two days, every 50 ms on their own connections) measure how
long writes and reads wait; then --ingest more events with it.

    .venv/bin/python bench/growth_bench.py --sizes 1000000,3000000,10000000 [--db URL] [--ingest 100000] [--json]

    scripts/with-postgres.sh .venv/bin/python bench/growth_bench.py --sizes 1000000 --json
    scripts/with-postgres.sh .venv/bin/python bench/growth_bench.py --sizes 30000000 --index-cost --json

The database: --db, else kiosk_bench on the cluster of $KIOSK_TEST_PG_URL (as scripts/with-postgres.sh sets it),
else as in bench/gen_events.py (kiosk_bench on scripts/test-postgres.sh's cluster). Its `public` schema is
dropped and made again for each size. One line of JSON per size is also appended to --out.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from common import add_repo_to_path, emit, machine, pct
from gen_events import PEOPLE, VENUES, _create_database, bench_url, fill, subject_key
from migration_bench import timed_step
from trace_bench import measure, sample, server

add_repo_to_path()

from alembic.command import downgrade, upgrade  # noqa: E402
from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.db import resolve_url  # noqa: E402
from central.devices import Device  # noqa: E402
from central.ingest import ingest  # noqa: E402
from central.models import MAX_BATCH, DeviceTime, EventIn  # noqa: E402
from central.partitions import partition_name  # noqa: E402

PRESENCE_BYTES = "SELECT coalesce(sum(pg_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = to_regclass('events_venue_presence')"  # noqa: E501
SIZES = "SELECT sum(pg_table_size(c.oid)), sum(pg_indexes_size(c.oid)), sum(pg_total_relation_size(c.oid)), count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass"  # noqa: E501


def sizes(engine: Engine, events: int) -> dict[str, Any]:
    with engine.connect() as conn:
        heap, indexes, total, partitions = conn.execute(text(SIZES)).one()
        presence = int(conn.execute(text(PRESENCE_BYTES)).scalar_one())
    return {
        "partitions": int(partitions),
        "heap_bytes": int(heap),
        "index_bytes": int(indexes),
        "total_bytes": int(total),
        "heap_per_event": round(int(heap) / events, 1),
        "index_per_event": round(int(indexes) / events, 1),
        "total_per_event": round(int(total) / events, 1),
        "presence_index_bytes": presence,  # events_venue_presence, part of index_bytes
        "presence_index_per_event": round(presence / events, 1),
    }


def traces(engine: Engine, end: datetime, people: int, seed: int) -> dict[str, Any]:
    drawn = sample(people, seed)
    measure(engine, drawn["warm_up"], end)
    return {
        "random": measure(engine, drawn["random"], end),
        "busy": measure(engine, drawn["busy"], end),
        "busiest": measure(engine, drawn["busiest"], end),
        "busy_second_degree": measure(engine, drawn["busy"][: max(1, people // 3)], end, second_degree=True),
    }


def batches(count: int, end: datetime, seed: int) -> list[tuple[Device, DeviceTime, list[EventIn]]]:
    """`count` new passages of known people at random venues in the hour before `end`, 500 to a batch, each
    batch from one device: made before the clock starts."""
    rng = np.random.default_rng(seed)
    made = []
    for first in range(0, count, MAX_BATCH):
        venue = int(rng.integers(1, VENUES + 1))
        device = Device(id=f"growth-{venue}", venue_id=venue, venue=f"V{venue - 1:05d}")
        wall = end.timestamp()
        clock = DeviceTime(wall=wall, mono=wall - 1.7e9, boot_id=f"growth-{venue}", synced=True)
        events = []
        for seq in range(first, min(first + MAX_BATCH, count)):
            t = wall - float(rng.uniform(60, 3600))
            person = int(rng.integers(0, PEOPLE))
            events.append(
                EventIn(
                    event_id=str(uuid.UUID(hashlib.md5(f"growth-{seed}-{seq}".encode()).hexdigest())),  # noqa: S324
                    boot_id=f"growth-{venue}",
                    seq=seq + 1,
                    wall_time=t,
                    mono_time=t - 1.7e9,
                    clock_synced=True,
                    direction="in" if rng.random() < 0.5 else "out",
                    kind="cccd",
                    subject_key=subject_key(person),
                    decision="ACCEPT",
                    reason="logged",
                    decoder="zxing",
                    latency_ms=4.2,
                )
            )
        made.append((device, clock, events))
    return made


def write_path(engine: Engine, end: datetime, count: int, seed: int, copy: bool = True) -> dict[str, Any]:
    """Ingest `count` events through central.ingest, one transaction per batch; then (`copy`) COPY the same rows
    into a table without indexes, the baseline. Another `seed`, other events."""
    work = batches(count, end, seed)
    day = partition_name(end.date())
    grown = f"SELECT pg_total_relation_size('{day}'), pg_total_relation_size('event_keys'), pg_total_relation_size('event_feed')"  # noqa: E501
    ingested = "SELECT count(*) FROM events WHERE device_id LIKE 'growth-%'"
    with engine.connect() as conn:
        before = conn.execute(text(grown)).one()
        held = conn.execute(text(ingested)).scalar_one()
    batch_ms = []
    started = time.perf_counter()
    for device, clock, events in work:
        began = time.perf_counter()
        with engine.begin() as conn:
            ingest(conn, device, clock, events, end)
        batch_ms.append((time.perf_counter() - began) * 1000)
    ingest_s = time.perf_counter() - started
    with engine.connect() as conn:
        after = conn.execute(text(grown)).one()
        stored = conn.execute(text(ingested)).scalar_one() - held
    if stored != count:
        raise SystemExit(f"ingest stored {stored} of {count} events")
    copy_s = _copy_baseline(engine) if copy else None
    grew = [after[i] - before[i] for i in range(3)]
    return {
        "events": count,
        "batch": MAX_BATCH,
        "ingest_s": round(ingest_s, 2),
        "ingest_per_s": round(count / ingest_s),
        "batch_ms": {**pct(batch_ms), "max": round(max(batch_ms), 1)},
        **({"copy_baseline_s": round(copy_s, 2), "copy_baseline_per_s": round(count / copy_s)} if copy_s else {}),
        "bytes_per_event_written": {
            "events_partition": round(grew[0] / count, 1),
            "event_keys": round(grew[1] / count, 1),
            "event_feed": round(grew[2] / count, 1),
        },
    }


def _copy_baseline(engine: Engine) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        buffer = io.BytesIO()
        with cursor.copy("COPY (SELECT * FROM events WHERE device_id LIKE 'growth-%') TO STDOUT") as copy:  # type: ignore[attr-defined]
            for chunk in copy:
                buffer.write(chunk)
        cursor.execute("CREATE TABLE growth_raw (LIKE events)")
        raw.commit()
        data = buffer.getvalue()
        started = time.perf_counter()
        with cursor.copy("COPY growth_raw FROM STDIN") as copy:  # type: ignore[attr-defined]
            copy.write(data)
        raw.commit()
        took = time.perf_counter() - started
        cursor.execute("DROP TABLE growth_raw")
        raw.commit()
    finally:
        raw.close()
    return took


def index_cost(url: str, engine: Engine, end: datetime, args: argparse.Namespace) -> dict[str, Any]:
    """Migration 0017's index at this size: second degree with it and, dropped (downgrade 0016), without it on
    the same data; ingest without it; built again by the migration (upgrade head: time, WAL, how long a writer
    and a reader waited); ingest with it. The ingests are of other events than write_path's (other seeds), into
    the same partition."""
    second = sample(args.people, args.trace_seed)["busy"][: max(1, args.people // 3)]
    probes = create_engine(url, poolclass=NullPool)
    try:
        with_it: dict[str, Any] = {"second_degree": measure(engine, second, end, second_degree=True)}
        dropped = timed_step(engine, probes, downgrade, "0016", end.date())
        without = {
            "second_degree": measure(engine, second, end, second_degree=True),
            "ingest": write_path(engine, end - timedelta(minutes=1), args.ingest, args.seed + 1, copy=False),
        }
        built = timed_step(engine, probes, upgrade, "head", end.date())
        with engine.connect() as conn:
            memory = conn.execute(text("SHOW maintenance_work_mem")).scalar_one()
        with_it["ingest"] = write_path(engine, end - timedelta(minutes=1), args.ingest, args.seed + 2, copy=False)
    finally:
        probes.dispose()
    return {
        "drop": dropped,
        "without": without,
        "build": {**built, "maintenance_work_mem": memory},
        "with": with_it,
    }


def one_size(url: str, events: int, args: argparse.Namespace) -> dict[str, Any]:
    loaded = fill(url, events, args.seed, args.workers)
    end = datetime.fromtimestamp(loaded["end"], UTC)
    engine = create_engine(url, pool_size=1)
    try:
        stored = sizes(engine, events)
        started = time.perf_counter()
        traced = traces(engine, end, args.people, args.trace_seed)
        trace_s = time.perf_counter() - started
        written = write_path(engine, end - timedelta(minutes=1), args.ingest, args.seed) if args.ingest else {}
        cost = index_cost(url, engine, end, args) if args.index_cost and args.ingest else None
        info = server(engine)
    finally:
        engine.dispose()
    load_s = loaded["insert_s"] + loaded["index_s"]
    return {
        "events": events,
        "load": {
            **{k: loaded[k] for k in ("generate_s", "copy_s", "insert_s", "index_s", "vacuum_analyze_s", "total_s")},
            "index_each_s": {k[6:-2]: v for k, v in loaded.items() if k.startswith("index_") and k != "index_s"},
            "insert_and_index_per_s": round(events / load_s),
        },
        "bytes": stored,
        "trace": traced,
        "trace_run_s": round(trace_s, 1),
        "ingest": written,
        **({"index_cost": cost} if cost else {}),
        "server": info,
    }


def _url(flag: str | None) -> str:
    """--db, else kiosk_bench (made if missing) on the cluster of $KIOSK_TEST_PG_URL (scripts/with-postgres.sh),
    else as bench/gen_events.py finds it."""
    if flag or not os.environ.get("KIOSK_TEST_PG_URL"):
        return bench_url(flag)
    url = resolve_url(os.environ["KIOSK_TEST_PG_URL"])
    _create_database(url, "kiosk_bench")
    return bench_url(make_url(url).set(database="kiosk_bench").render_as_string(hide_password=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,3000000,10000000", help="events, comma-separated")
    parser.add_argument("--db", help="PostgreSQL URL (default: kiosk_bench on scripts/test-postgres.sh's cluster)")
    parser.add_argument("--people", type=int, default=30, help="people traced in each sample")
    parser.add_argument("--ingest", type=int, default=100_000, help="events stored through central.ingest")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace-seed", type=int, default=11)
    parser.add_argument("--workers", type=int, default=2, help="connections inserting at once while filling")
    parser.add_argument("--index-cost", action="store_true", help="migration 0017's index: ingest and trace without")
    parser.add_argument("--out", type=Path, default=Path("bench/out/growth.jsonl"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = _url(args.db)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    for events in (int(size) for size in args.sizes.split(",")):
        result = one_size(url, events, args)
        with args.out.open("a") as out:
            out.write(json.dumps(result) + "\n")
        results.append(result)
    emit({"benchmark": "growth", "machine": machine(), "sizes": results}, args.json)


if __name__ == "__main__":
    main()
