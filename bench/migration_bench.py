"""Migration 0016 (events and their claims keyed by venue) and its downgrade on PostgreSQL with a sizeable
`events`: how long each takes, statement by statement, the WAL it writes, and how long a writer and a reader of
`events` wait meanwhile (docs/scale.md, "What 0016 costs, and how to run it").

At revision 0015: `events` over 22 daily partitions (the last 21 days and today) and the default, 5,000 venues,
ids as UUID text, its key and indexes built in one pass after the load; `event_keys` one claim per event. Then
`alembic upgrade head` in one transaction (as `kiosk-central migrate` runs it), each statement timed, while two
probes run on their own connections every 50 ms: a writer (one INSERT into `events`, rolled back) and a reader (a
venue's passages of the last two days, by events_venue_time). Then `downgrade 0015`, the same way. Baseline, same
run: each probe's time in the second before the step began, when nothing holds a lock.

    scripts/with-postgres.sh .venv/bin/python bench/migration_bench.py --events 1000000 --json

A database of its own, kiosk_migration_bench, on the server of $KIOSK_TEST_PG_URL (never kiosk_test, which the
tests reset), made for the run and dropped after it. Bounded: at most 20 million events, and every statement
(the migration's, the fill's, the probes') gives up after --timeout seconds.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from common import add_repo_to_path, emit, machine, pct

add_repo_to_path()

from alembic.command import downgrade, upgrade  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import Engine, create_engine, event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.db import MIGRATIONS, resolve_url  # noqa: E402
from central.partitions import partition_name  # noqa: E402

BENCH_DB = "kiosk_migration_bench"
DAYS = 21
VENUES = 5000
MAX_EVENTS = 20_000_000
PROBE_EVERY_S = 0.05
QUIET_S = 1.0  # probes alone before a step (the baseline) and after it

Step = Callable[[Config, str], None]

FILL = """
INSERT INTO events (event_id, received_day, device_id, venue_id, boot_id, seq, wall_time, mono_time, time,
                    time_synced, received_at, direction, kind, subject_key, decision, reason, decoder, latency_ms)
SELECT md5('e' || i)::uuid::text, CAST(:today AS date) - (i % :days), 'dev-' || (i % :venues), 1 + (i % :venues),
       'boot', i, 0, 0, CAST(:today AS date) - (i % :days) + interval '9 hours', true,
       CAST(:today AS date) - (i % :days) + interval '9 hours 5 minutes', 'in', 'cccd',
       substr(md5('p' || (i % 300000)), 1, 32), 'ACCEPT', 'logged', 'zxing', 4.2
FROM generate_series(1, :count) AS i
"""
# The probes' days go in as literals, not parameters, so that every run is planned with them (partitions pruned
# at plan time, as a page's query with its own dates is), not by a generic plan psycopg's prepared statement
# might get after a few runs.
WRITER = """
INSERT INTO events (event_id, received_day, venue_id, time, time_synced, received_at, direction, kind, decision,
                    reason)
VALUES ('probe', '{today}', 1, now(), true, now(), 'in', 'cccd', 'ACCEPT', 'logged')
"""
READER = """
SELECT count(*) FROM events WHERE venue_id = 17 AND time > now() - interval '2 days' AND received_day >= '{since}'
"""
SIZES = """
SELECT (SELECT pg_total_relation_size('event_keys')),
       (SELECT sum(pg_indexes_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'events'::regclass),
       (SELECT sum(pg_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'events'::regclass)
"""


@contextmanager
def bench_database(timeout_s: float) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on kiosk_migration_bench (made empty on the server of $KIOSK_TEST_PG_URL), one for the
    migration and one for the probes, each connection with `statement_timeout`; the database dropped at the end."""
    base = os.environ.get("KIOSK_TEST_PG_URL")
    if not base:
        raise SystemExit("needs PostgreSQL: run under scripts/with-postgres.sh (it sets $KIOSK_TEST_PG_URL)")
    server = make_url(resolve_url(base))
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DB}")
    options = {"options": f"-c statement_timeout={int(timeout_s * 1000)}"}
    engines = [create_engine(server.set(database=BENCH_DB), poolclass=NullPool, connect_args=options) for _ in "ab"]
    try:
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.dispose()


def alembic(engine: Engine, step: Step, revision: str) -> None:
    """`step` to `revision` in one transaction, as central.db.migrate (`kiosk-central migrate`) runs it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        step(config, revision)


def fill(engine: Engine, count: int, today: date) -> float:
    """The schema at 0015, then `count` events and their claims; seconds it took. The key and indexes of `events`
    are dropped for the load and built in one pass after it, which keeps the load short."""
    began = time.perf_counter()
    alembic(engine, upgrade, "0015")
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for n in range(DAYS + 1):
            day = today - timedelta(days=DAYS - n)
            conn.execute(
                text(
                    f"CREATE TABLE {partition_name(day)} PARTITION OF events "
                    f"FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
                )
            )
        conn.execute(text("ALTER TABLE events DROP CONSTRAINT events_pkey"))
        conn.execute(text("DROP INDEX events_subject_time, events_venue_time"))
        conn.execute(text(FILL), {"today": today, "days": DAYS + 1, "venues": VENUES, "count": count})
        conn.execute(text("ALTER TABLE events ADD PRIMARY KEY (event_id, received_day)"))
        conn.execute(text("CREATE INDEX events_subject_time ON events (subject_key, time)"))
        conn.execute(text("CREATE INDEX events_venue_time ON events (venue_id, time)"))
        conn.execute(text("INSERT INTO event_keys (event_id, received_day) SELECT event_id, received_day FROM events"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) events"))
        conn.execute(text("VACUUM (ANALYZE) event_keys"))
    return round(time.perf_counter() - began, 1)


class Probe(threading.Thread):
    """One statement every 50 ms on its own connection, until stopped: when each run began and how long it took."""

    def __init__(self, engine: Engine, label: str, statement: str, rollback: bool) -> None:
        super().__init__(name=f"probe-{label}", daemon=True)
        self.engine, self.label, self.statement, self.rollback = engine, label, statement, rollback
        self.stop = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (began, seconds), perf_counter clock
        self.error: str | None = None

    def run(self) -> None:
        try:
            with self.engine.connect() as conn:
                while not self.stop.is_set():
                    began = time.perf_counter()
                    conn.execute(text(self.statement))
                    if self.rollback:
                        conn.rollback()
                    else:
                        conn.commit()
                    self.samples.append((began, time.perf_counter() - began))
                    self.stop.wait(PROBE_EVERY_S)
        except Exception as error:  # reported in the result; the step goes on
            self.error = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"

    def result(self, step_began: float) -> dict[str, Any]:
        """Baseline: the runs done before the step began. During: the others; the longest is the wait."""
        before = [s * 1000 for b, s in self.samples if b + s < step_began]
        during = [s * 1000 for b, s in self.samples if b + s >= step_began]
        return {
            "baseline_ms": pct(before) if before else None,
            "during_ms": pct(during) if during else None,
            "waited_max_s": round(max(during) / 1000, 2) if during else None,
            "error": self.error,
        }


def sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        keys, indexes, heap = conn.execute(text(SIZES)).one()
    return {"event_keys_bytes": int(keys), "events_index_bytes": int(indexes), "events_heap_bytes": int(heap)}


def probes(engine: Engine, today: date) -> list[Probe]:
    """A writer (one event, rolled back) and a reader (a venue's passages of the last two days)."""
    return [
        Probe(engine, "writer", WRITER.format(today=today.isoformat()), rollback=True),
        Probe(engine, "reader", READER.format(since=(today - timedelta(days=2)).isoformat()), rollback=False),
    ]


class StatementTimes:
    """Each statement of the engine's that took over 10 ms, while attached."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.slow: list[tuple[str, float]] = []
        self.marks: dict[int, float] = {}

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.marks[id(cursor)] = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        spent = time.perf_counter() - self.marks.pop(id(cursor), time.perf_counter())
        if spent > 0.01:
            self.slow.append((" ".join(statement.split())[:90], round(spent, 2)))

    def __enter__(self) -> StatementTimes:
        event.listen(self.engine, "before_cursor_execute", self.before)
        event.listen(self.engine, "after_cursor_execute", self.after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self.before)
        event.remove(self.engine, "after_cursor_execute", self.after)


def timed_step(engine: Engine, probes_engine: Engine, step: Step, revision: str, today: date) -> dict[str, Any]:
    """`step` to `revision`, timed, with the probes running on their own connections from QUIET_S before the
    step to QUIET_S after it."""
    running = probes(probes_engine, today)
    try:
        for probe in running:
            probe.start()
        time.sleep(QUIET_S)
        with engine.connect() as conn:
            wal_start = str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())
        with StatementTimes(engine) as statements:
            began = time.perf_counter()
            alembic(engine, step, revision)
            spent = time.perf_counter() - began
        time.sleep(QUIET_S)
    finally:
        for probe in running:
            probe.stop.set()
        for probe in running:
            probe.join()
    with engine.connect() as conn:
        wal = conn.execute(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :s)"), {"s": wal_start}).scalar_one()
    return {
        "total_s": round(spent, 2),
        "wal_bytes": int(wal),
        "statements_over_10ms": statements.slow,
        **{probe.label: probe.result(began) for probe in running},
    }


def run(events: int, timeout_s: float) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    with bench_database(timeout_s) as (engine, probes_engine):
        result: dict[str, Any] = {"events": events, "fill_s": fill(engine, events, today), "before": sizes(engine)}
        with engine.connect() as conn:
            result["postgresql"] = conn.execute(text("SHOW server_version")).scalar_one()
            result["maintenance_work_mem"] = conn.execute(text("SHOW maintenance_work_mem")).scalar_one()
        result["upgrade"] = timed_step(engine, probes_engine, upgrade, "0016", today)
        result["after_upgrade"] = sizes(engine)
        with engine.connect() as conn:
            without = conn.execute(text("SELECT count(*) FROM event_keys WHERE venue_id = 0")).scalar_one()
        result["claims_without_venue"] = int(without)
        result["downgrade"] = timed_step(engine, probes_engine, downgrade, "0015", today)
        result["after_downgrade"] = sizes(engine)
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['events']:,} events, PostgreSQL {result['postgresql']}, "
          f"maintenance_work_mem {result['maintenance_work_mem']}, filled in {result['fill_s']} s\n")  # fmt: skip
    print("| step | total s | WAL MB | writes waited s | reads waited s | writer / reader p50 ms, baseline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in ("upgrade", "downgrade"):
        step = result[name]
        writer, reader = step["writer"], step["reader"]
        base = " / ".join(str((p["baseline_ms"] or {}).get("p50")) for p in (writer, reader))
        print(f"| {name} | {step['total_s']} | {step['wal_bytes'] / 1e6:.0f} | {writer['waited_max_s']} | "
              f"{reader['waited_max_s']} | {base} |")  # fmt: skip
    for name in ("upgrade", "downgrade"):
        print(f"\n{name}, statements over 10 ms:")
        for statement, seconds in result[name]["statements_over_10ms"]:
            print(f"  {seconds:>7} s  {statement}")
        errors = [f"{p}: {result[name][p]['error']}" for p in ("writer", "reader") if result[name][p]["error"]]
        if errors:
            print("  probe errors:", "; ".join(errors))
    print(f"\nclaims without a venue after the upgrade: {result['claims_without_venue']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help=f"events and claims, at most {MAX_EVENTS:,}")
    parser.add_argument("--timeout", type=float, default=900, help="seconds any one statement may take")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not 1000 <= args.events <= MAX_EVENTS:
        parser.error(f"--events: from 1,000 to {MAX_EVENTS:,}")
    result = {"benchmark": "migration_0016", "machine": machine(), **run(args.events, args.timeout)}
    if args.json:
        emit(result, True)
    else:
        print_table(result)


if __name__ == "__main__":
    main()
