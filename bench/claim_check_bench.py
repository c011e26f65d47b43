"""What ingest's look-up of the ids held at any venue (central/ingest.py `claim_ids`, since migration 0016) costs
per batch on PostgreSQL with many claims held (docs/scale.md, "Exactly once stays national").

`central.ingest.ingest` as it is (the look-up, then the claim of the ids not found), against, as the baseline in
the same run, the same ingest with the claim alone (`ON CONFLICT (event_id, venue_id) DO NOTHING`, no look-up):
batches of 500 new events from 50 devices at 50 venues, one transaction each, alternating between the two, over
--held claims made in SQL beforehand (21 days of them, then VACUUM ANALYZE). Per kind: the whole batch and the
`claim_ids` call alone (p50/p95 ms), and events per second. Every batch must be answered as held in full and
every event stored once.

    scripts/with-postgres.sh .venv/bin/python bench/claim_check_bench.py --held 1000000 --batches 100 --json

A database of its own, kiosk_claim_bench, on the server of $KIOSK_TEST_PG_URL (never kiosk_test, which the tests
reset), made for the run and dropped after it. Bounded: at most 20 million claims and 2,000 batches of each kind,
and every statement gives up after --timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest.mock import patch

from common import add_repo_to_path, emit, machine, pct

add_repo_to_path()

from sqlalchemy import Connection, Engine, create_engine, text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

import central.ingest as ingest_module  # noqa: E402
from central.db import migrate, resolve_url  # noqa: E402
from central.devices import Device  # noqa: E402
from central.models import MAX_BATCH, DeviceTime, EventIn  # noqa: E402
from central.partitions import ensure_partitions  # noqa: E402
from central.schema import event_keys  # noqa: E402

BENCH_DB = "kiosk_claim_bench"
VENUES = 50
DAYS = 21
MAX_HELD = 20_000_000
MAX_BATCHES = 2000

Claim = Callable[[Connection, int, list[str], Any], list[str]]

HELD = """
INSERT INTO event_keys (event_id, venue_id, received_day)
SELECT md5('e' || i)::uuid::text, 1 + i % :venues, CAST(:today AS date) - i % :days FROM generate_series(1, :n) i
"""


@contextmanager
def bench_database(timeout_s: float) -> Iterator[Engine]:
    """An engine on kiosk_claim_bench (made empty on the server of $KIOSK_TEST_PG_URL, then migrated), each
    connection with `statement_timeout`; the database dropped at the end."""
    base = os.environ.get("KIOSK_TEST_PG_URL")
    if not base:
        raise SystemExit("needs PostgreSQL: run under scripts/with-postgres.sh (it sets $KIOSK_TEST_PG_URL)")
    server = make_url(resolve_url(base))
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DB}")
    options = {"options": f"-c statement_timeout={int(timeout_s * 1000)}"}
    engine = create_engine(server.set(database=BENCH_DB), pool_pre_ping=True, connect_args=options)
    try:
        migrate(engine)  # as central.db.connect, which takes no connection options
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.dispose()


def fill(engine: Engine, held: int, today: date) -> float:
    """Partitions, a unit, its venues and their devices, and `held` claims spread over them; seconds it took."""
    began = time.perf_counter()
    ensure_partitions(engine, today - timedelta(days=DAYS), ahead=DAYS + 7)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO units (code, name, created_at) VALUES ('U', 'U', now())"))
        conn.execute(
            text(
                "INSERT INTO venues (code, name, unit_id, category, created_at) "
                "SELECT 'V' || i, 'V', 1, 'hospital', now() FROM generate_series(1, :venues) i"
            ),
            {"venues": VENUES},
        )
        conn.execute(text(HELD), {"n": held, "today": today, "venues": VENUES, "days": DAYS})
        conn.execute(
            text(
                "INSERT INTO devices (id, venue_id, public_key, enrolled_at) "
                "SELECT 'dev-' || i, i, decode(repeat('00', 32), 'hex'), now() FROM generate_series(1, :venues) i"
            ),
            {"venues": VENUES},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) event_keys"))
    return round(time.perf_counter() - began, 1)


def claim_alone(conn: Connection, venue_id: int, ids: list[str], day: Any) -> list[str]:
    """The baseline: claim_ids without its look-up, the claim's ON CONFLICT the only check."""
    statement = (
        postgresql.insert(event_keys)
        .on_conflict_do_nothing(index_elements=["event_id", "venue_id"])
        .returning(event_keys.c.event_id)
    )
    rows = [{"event_id": i, "venue_id": venue_id, "received_day": day} for i in ids]
    return [row[0] for row in conn.execute(statement, rows)]


def timed(claim: Claim, spent: list[float]) -> Claim:
    """`claim`, each call's seconds appended to `spent`."""

    def run(conn: Connection, venue_id: int, ids: list[str], day: Any) -> list[str]:
        began = time.perf_counter()
        try:
            return claim(conn, venue_id, ids, day)
        finally:
            spent.append(time.perf_counter() - began)

    return run


def batch(venue: int, now: datetime) -> tuple[Device, DeviceTime, list[EventIn]]:
    """500 new events (fresh ids) from venue's device, made before the clock starts."""
    wall = now.timestamp()
    events = [
        EventIn(
            event_id=str(uuid.uuid4()),
            boot_id="b",
            seq=n + 1,
            wall_time=wall - 60,
            mono_time=1.0,
            clock_synced=True,
            direction="in",
            kind="cccd",
            subject_key="0" * 32,
            decision="ACCEPT",
            reason="logged",
            decoder="zxing",
            latency_ms=4.2,
        )
        for n in range(MAX_BATCH)
    ]
    clock = DeviceTime(wall=wall, mono=2.0, boot_id="b", synced=True)
    return Device(f"dev-{venue}", venue, f"V{venue}"), clock, events


def alternate(engine: Engine, batches: int, now: datetime) -> dict[str, dict[str, list[float]]]:
    """`batches` of each kind, alternating: each batch's seconds and its claim's."""
    claims: dict[str, Claim] = {"with_lookup": ingest_module.claim_ids, "claim_alone": claim_alone}
    spent: dict[str, dict[str, list[float]]] = {kind: {"batch": [], "claim": []} for kind in claims}
    for n in range(batches * 2):
        kind = "with_lookup" if n % 2 == 0 else "claim_alone"
        device, clock, events = batch(1 + n % VENUES, now)
        with patch.object(ingest_module, "claim_ids", timed(claims[kind], spent[kind]["claim"])):
            began = time.perf_counter()
            with engine.begin() as conn:
                held = ingest_module.ingest(conn, device, clock, events, now)
            spent[kind]["batch"].append(time.perf_counter() - began)
        if len(held) != MAX_BATCH:
            raise SystemExit(f"batch {n} ({kind}): {len(held)} of {MAX_BATCH} answered as held")
    return spent


def figures(spent: dict[str, list[float]]) -> dict[str, Any]:
    batch_ms = [s * 1000 for s in spent["batch"]]
    return {
        "batch_ms": pct(batch_ms),
        "claim_ms": pct([s * 1000 for s in spent["claim"]]),
        "events_per_s": round(MAX_BATCH * len(batch_ms) / (sum(batch_ms) / 1000)),
    }


def run(held: int, batches: int, timeout_s: float) -> dict[str, Any]:
    now = datetime.now(UTC)
    with bench_database(timeout_s) as engine:
        fill_s = fill(engine, held, now.date())
        spent = alternate(engine, batches, now)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            server = conn.execute(text("SHOW server_version")).scalar_one()
    if stored != batches * 2 * MAX_BATCH:
        raise SystemExit(f"{stored} events stored, not {batches * 2 * MAX_BATCH}")
    result = {kind: figures(times) for kind, times in spent.items()}
    look_up = result["with_lookup"]["claim_ms"]["p50"] - result["claim_alone"]["claim_ms"]["p50"]
    return {
        "held_claims": held,
        "batches_each": batches,
        "batch": MAX_BATCH,
        "fill_s": fill_s,
        "postgresql": server,
        **result,
        "look_up_p50_ms": round(look_up, 3),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['held_claims']:,} claims held, {result['batches_each']} batches of {result['batch']} each way, "
          f"PostgreSQL {result['postgresql']}\n")  # fmt: skip
    print("| ingest | batch p50 / p95 ms | claim_ids p50 / p95 ms | events/s |\n| --- | ---: | ---: | ---: |")
    for kind in ("with_lookup", "claim_alone"):
        row = result[kind]
        batch_ms, claim_ms = row["batch_ms"], row["claim_ms"]
        print(f"| {kind} | {batch_ms['p50']} / {batch_ms['p95']} | {claim_ms['p50']} / {claim_ms['p95']} | "
              f"{row['events_per_s']:,} |")  # fmt: skip
    print(f"\nthe look-up, p50 of claim_ids with it less without it: {result['look_up_p50_ms']} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--held", type=int, default=1_000_000, help=f"claims held beforehand, at most {MAX_HELD:,}")
    parser.add_argument("--batches", type=int, default=100, help=f"batches of each kind, at most {MAX_BATCHES:,}")
    parser.add_argument("--timeout", type=float, default=600, help="seconds any one statement may take")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 0 <= args.held <= MAX_HELD:
        parser.error(f"--held: from 0 to {MAX_HELD:,}")
    if not 1 <= args.batches <= MAX_BATCHES:
        parser.error(f"--batches: from 1 to {MAX_BATCHES:,}")
    result = {"benchmark": "claim_check", "machine": machine(), **run(args.held, args.batches, args.timeout)}
    if args.json:
        emit(result, True)
    else:
        print_table(result)


if __name__ == "__main__":
    main()
