"""The pull feed's page time (GET /api/v1/events, central/feed/page.py) on PostgreSQL at millions of events:
p50/p95 of `read_page` at cursors spread over the whole feed, for a unit's client (every venue) and a venue's.

The events are made in SQL, not through the API: `INSERT ... SELECT generate_series` into `events` (partitioned by
day, 10 days) and `event_feed` (one row per event, in ingest order; a transaction id per batch of events, kept
below the server's own so the feed's horizon serves them all), then ANALYZE. 200 venues in 20 units under one
province.

Baselines in the same run, on the same data: the page's keyset scan alone as raw SQL (event_feed only, no join to
the events), and the same page read with OFFSET (what the feed does not do), at the same positions. EXPLAIN of the
page's query is kept: an index scan of event_feed_order (or event_feed_venue_order), no sort, no OFFSET.

    scripts/with-postgres.sh .venv/bin/python bench/feed_bench.py [--events 1000000] [--runs 200] [--json]

A database of its own, kiosk_feed_bench, on the server of $KIOSK_TEST_PG_URL (never kiosk_test, which the
tests reset); its `public` schema is dropped and made again unless --reuse finds it filled with --events.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, date, datetime
from typing import Any

from common import add_repo_to_path, emit, machine, pct

add_repo_to_path()

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.db import connect, resolve_url  # noqa: E402
from central.feed.cursor import encode  # noqa: E402
from central.feed.page import read_page  # noqa: E402
from central.feed.scope import Scope  # noqa: E402
from central.partitions import ensure_partitions  # noqa: E402

BENCH_DB = "kiosk_feed_bench"
DAYS = 10
VENUES = 200
FIRST_DAY = date(2026, 3, 1)
BATCH = 500  # events per upload: one transaction id each (as far as the server's own allows)


def bench_engine(reuse: bool) -> Engine:
    base = os.environ.get("KIOSK_TEST_PG_URL")
    if not base:
        raise SystemExit("needs PostgreSQL: run under scripts/with-postgres.sh (it sets $KIOSK_TEST_PG_URL)")
    url = make_url(resolve_url(base))
    admin = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": BENCH_DB}).first():
            conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DB}")
    admin.dispose()
    url = url.set(database=BENCH_DB)
    if not reuse:
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    return connect(url.render_as_string(hide_password=False))


def fill(engine: Engine, events: int) -> dict[str, float]:
    """Places, then `events` events and their feed rows in SQL; seconds each step took."""
    took: dict[str, float] = {}
    now = datetime(2026, 3, 1, tzinfo=UTC)
    ensure_partitions(engine, FIRST_DAY, ahead=DAYS)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO units (id, code, name, parent_id, created_at) VALUES (1, 'P', 'P', NULL, :t)"), {"t": now}
        )
        conn.execute(
            text(
                "INSERT INTO units (id, code, name, parent_id, created_at) "
                "SELECT 1 + g, 'D' || g, 'D' || g, 1, :t FROM generate_series(1, 20) g"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO venues (id, code, name, unit_id, category, created_at) "
                "SELECT g, 'V' || g, 'V' || g, 2 + (g % 20), 'office', :t FROM generate_series(1, :n) g"
            ),
            {"t": now, "n": VENUES},
        )
        xid = int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    per_day = events // DAYS
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (event_id, received_day, device_id, venue_id, time, time_synced, received_at, "
                "direction, kind, subject_key, decision, reason) "
                "SELECT 'e' || g, CAST(:day0 AS date) + ((g - 1) / :per_day)::int, 'dev' || (g % :v), 1 + (g % :v), "
                "CAST(:t0 AS timestamptz) + make_interval(secs => g * 0.08), true, "
                "CAST(:t0 AS timestamptz) + make_interval(secs => g * 0.08), "
                "CASE WHEN g % 2 = 0 THEN 'in' ELSE 'out' END, 'cccd', md5(g::text)::varchar(32), 'ACCEPT', 'logged' "
                "FROM generate_series(1, :n) g"
            ),
            {"day0": FIRST_DAY, "per_day": per_day, "v": VENUES, "t0": now, "n": events},
        )
    took["events_s"] = round(time.perf_counter() - started, 1)
    # One transaction id per batch of BATCH events, but all below the server's present one (the feed serves only
    # rows of transactions that have ended): ids spread over [1, xid - 10].
    spread = max(1, min(xid - 10, events // BATCH))
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO event_feed (seq, txid, event_id, received_day, venue_id) "
                "SELECT g, 1 + ((g - 1)::bigint * :spread) / :n, 'e' || g, "
                "CAST(:day0 AS date) + ((g - 1) / :per_day)::int, "
                "1 + (g % :v) FROM generate_series(1, :n) g"
            ),
            {"spread": spread, "n": events, "day0": FIRST_DAY, "per_day": per_day, "v": VENUES},
        )
        conn.execute(text("SELECT setval(pg_get_serial_sequence('event_feed', 'seq'), :n)"), {"n": events})
    took["feed_rows_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    took["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    took["txid_spread"] = spread
    return took


def cursors(engine: Engine, events: int, runs: int, rng: random.Random) -> list[tuple[str, int]]:
    """Cursors at random positions of the feed (the start included), with their seq."""
    seqs = [0] + [rng.randrange(1, events) for _ in range(runs - 1)]
    with engine.connect() as conn:
        found = []
        for seq in seqs:
            txid = conn.execute(text("SELECT txid FROM event_feed WHERE seq = :s"), {"s": seq}).scalar() or 0
            found.append((encode(int(txid), seq) if seq else "", seq))
    return found


def measure(engine: Engine, scope: Scope, where: list[tuple[str, int]], limit: int) -> dict[str, Any]:
    samples = []
    with engine.connect() as conn:
        for cursor, _ in where:
            started = time.perf_counter()
            page = read_page(conn, scope, cursor, limit)
            samples.append((time.perf_counter() - started) * 1000)
            assert len(page.events) == limit or not page.more
            conn.rollback()
    return pct(samples)


def raw_keyset(engine: Engine, where: list[tuple[str, int]], limit: int) -> dict[str, Any]:
    """The baseline: the page's keys alone, in raw SQL."""
    samples = []
    with engine.connect() as conn:
        for cursor, seq in where:
            txid = conn.execute(text("SELECT txid FROM event_feed WHERE seq = :s"), {"s": seq}).scalar() or 0
            del cursor
            started = time.perf_counter()
            conn.execute(
                text("SELECT seq, txid FROM event_feed WHERE (txid, seq) > (:t, :s) ORDER BY txid, seq LIMIT :n"),
                {"t": txid, "s": seq, "n": limit},
            ).all()
            samples.append((time.perf_counter() - started) * 1000)
    return pct(samples)


def offset_pages(engine: Engine, where: list[tuple[str, int]], limit: int, rounds: int) -> dict[str, Any]:
    """What paging with OFFSET would cost at the same positions (a few rounds: it reads every row before them)."""
    samples = []
    with engine.connect() as conn:
        for _, seq in where[:rounds]:
            started = time.perf_counter()
            conn.execute(
                text("SELECT seq FROM event_feed ORDER BY txid, seq OFFSET :o LIMIT :n"), {"o": seq, "n": limit}
            ).all()
            samples.append((time.perf_counter() - started) * 1000)
    return pct(samples)


def plan(engine: Engine, scope: Scope, cursor: str, limit: int) -> list[str]:
    """The node types of the plans of the page's statements (EXPLAIN of what read_page runs on the feed and the
    events)."""
    nodes: list[str] = []
    with engine.connect() as conn:

        def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            if "event_feed" in statement or "FROM events" in statement:
                nodes.extend(_explain(conn, statement, parameters))

        from sqlalchemy import event

        event.listen(engine, "before_cursor_execute", keep)
        try:
            read_page(conn, scope, cursor, limit)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
    return nodes


def _explain(conn: Any, statement: str, parameters: Any) -> list[str]:
    raw = conn.connection.dbapi_connection.cursor()
    raw.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
    tree = raw.fetchone()[0][0]["Plan"]
    raw.close()
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        found.append(
            f"{node['Node Type']}"
            + (f" on {node['Relation Name']} using {node.get('Index Name')}" if node.get("Index Name") else "")
        )
        for child in node.get("Plans", []):
            walk(child)

    walk(tree)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds --events events")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    engine = bench_engine(args.reuse)
    with engine.connect() as conn:
        held = conn.execute(text("SELECT count(*) FROM event_feed")).scalar_one()
    took = fill(engine, args.events) if not (args.reuse and held == args.events) else {"reused": True}
    rng = random.Random(16)
    where = cursors(engine, args.events, args.runs, rng)
    results: dict[str, Any] = {}
    for limit in (100, 1000):
        results[f"limit_{limit}"] = {
            "unit_client_page_ms": measure(engine, Scope(unit_id=1), where, limit),
            "venue_client_page_ms": measure(engine, Scope(venue_id=7), where, limit),
            "baseline_raw_keyset_ms": raw_keyset(engine, where, limit),
            "baseline_offset_ms": offset_pages(engine, where, limit, rounds=10),
        }
    results["plan_unit"] = plan(engine, Scope(unit_id=1), where[1][0], 100)
    results["plan_venue"] = plan(engine, Scope(venue_id=7), where[1][0], 100)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_size_pretty(pg_total_relation_size('event_feed'))")).scalar_one()
        version = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    emit({"benchmark": "feed", "events": args.events, "runs": args.runs, "fill": took, "event_feed_size": size,
          "postgresql": version, "machine": machine(), **results}, args.json)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
