"""The deployment dashboard's data for a province: `unit_report` + both charts + the CSV, p50/p95 over runs.

A province is built first (seed 67, relative to the time of the run): 1 province, 25 districts, 500 communes,
5,000 venues (a few attached to their district), about 5,000 devices (some venues with two, some with none, a few
revoked, most heard within the last 15 minutes, some hours or days ago, some never) and 90 local days of
`venue_days` (heard most days once deployed, scans by category with quieter weekends). Then, each on a connection
from the pool as a page request gets it, with the unit tree loaded per request: the province, a district and a
commune.

Baselines in the same run, on the same data: a bare `SELECT count(*) FROM venues` round trip, loading the unit
tree, and the report's main aggregate (venues x devices x 7 days of rollup, grouped by unit and category) alone.
When the province is the whole tree (a province's own centre) no unit filter is needed; the last measure adds a
second, empty province so that the province's report filters its venues by its 526 unit ids, as it must when
the centre holds more than one.

    .venv/bin/python bench/dashboard_bench.py [--db sqlite postgresql] [--venues 5000] [--runs 30] [--json]

PostgreSQL: a database of its own, kiosk_bench2 (created if missing, its `public` schema dropped and made again),
on the server of --pg-url, else $KIOSK_TEST_PG_URL, else what scripts/test-postgres.sh prints; never kiosk_test,
which the test suite resets. It is ANALYZEd after loading, as autovacuum would do; SQLite is not (nothing in the
centre runs ANALYZE on it). SQLite: a file in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()

from sqlalchemy import Engine, create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.categories import CATEGORIES  # noqa: E402
from central.db import connect, resolve_url  # noqa: E402
from central.localtime import local_day  # noqa: E402
from central.progress import _unit_figures, as_csv, coverage_chart, scans_chart, unit_report  # noqa: E402
from central.schema import devices, units, venue_days, venues  # noqa: E402
from central.unittree import UnitTree  # noqa: E402

BENCH_DB = "kiosk_bench2"
HISTORY_DAYS = 90
# Typical scans a day by category (a market or a station sees many more people than an office).
DAILY_SCANS = {"office": 120, "factory": 900, "school": 500, "hospital": 1500, "station": 2000, "vehicle": 150,
               "market": 1200, "restaurant": 80, "hotel": 60, "event": 300, "religious": 100, "tourism": 400,
               "residential": 250, "checkpoint": 600, "other": 50}  # fmt: skip
WEIGHTS = {"office": 14, "factory": 6, "school": 16, "hospital": 4, "station": 1, "vehicle": 3, "market": 10,
           "restaurant": 20, "hotel": 6, "event": 1, "religious": 5, "tourism": 3, "residential": 8,
           "checkpoint": 1, "other": 2}  # fmt: skip


def bench_url(kind: str, work: Path, pg_url: str | None) -> str:
    """An empty, migrated database of `kind`: a SQLite file in `work`, or kiosk_bench2 on the PostgreSQL server."""
    if kind == "sqlite":
        return f"sqlite:///{work / 'central.db'}"
    base = make_url(resolve_url(pg_url or _test_postgres()))
    admin = create_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": BENCH_DB}).first():
            conn.exec_driver_sql(f"CREATE DATABASE {BENCH_DB}")
    admin.dispose()
    url = base.set(database=BENCH_DB)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return url.render_as_string(hide_password=False)


def _test_postgres() -> str:
    if url := os.environ.get("KIOSK_TEST_PG_URL"):
        return url
    found = subprocess.run([ROOT / "scripts" / "test-postgres.sh"], capture_output=True, text=True, check=True)
    if not found.stdout.strip():
        raise SystemExit("PostgreSQL is not available: give --pg-url or run scripts/test-postgres.sh")
    return found.stdout.strip()


class Province:
    """The rows of one province, made in memory from a seed; ids are given here so that rows can refer to them."""

    def __init__(self, now: datetime, venue_count: int, districts: int, communes: int, seed: int = 67) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.today = local_day(now)
        self.units: list[dict[str, Any]] = []
        self.venues: list[dict[str, Any]] = []
        self.devices: list[dict[str, Any]] = []
        self.days: list[dict[str, Any]] = []
        self._tree(districts, communes)
        self._venues(venue_count)
        for venue in self.venues:
            self._devices_and_days(venue)

    def _tree(self, districts: int, communes: int) -> None:
        long_ago = self.now - timedelta(days=400)
        self.units.append({"id": 1, "code": "67", "name": "Tỉnh Đắk Nông", "parent_id": None, "created_at": long_ago})
        for d in range(districts):
            code = f"67{d:03d}"
            self.units.append({"id": 2 + d, "code": code, "name": f"Huyện Số {d + 1}", "parent_id": 1,
                               "created_at": long_ago})  # fmt: skip
        for c in range(communes):
            parent = 2 + c % districts
            self.units.append({"id": 2 + districts + c, "code": f"67{parent - 2:03d}{c:05d}",
                               "name": f"Xã Số {c + 1}", "parent_id": parent, "created_at": long_ago})  # fmt: skip
        self.district_ids = list(range(2, 2 + districts))
        self.commune_ids = list(range(2 + districts, 2 + districts + communes))

    def _venues(self, count: int) -> None:
        names, weights = list(WEIGHTS), list(WEIGHTS.values())
        for n in range(count):
            category = self.rng.choices(names, weights)[0]
            at_district = category in ("hospital", "station") and self.rng.random() < 0.5
            unit = self.rng.choice(self.district_ids if at_district else self.commune_ids)
            days_ago = 400 if self.rng.random() < 0.8 else self.rng.uniform(0, HISTORY_DAYS)
            self.venues.append({"id": n + 1, "code": f"V{n + 1:05d}", "name": f"{CATEGORIES[category]} số {n + 1}",
                                "unit_id": unit, "category": category,
                                "created_at": self.now - timedelta(days=days_ago)})  # fmt: skip

    def _devices_and_days(self, venue: dict[str, Any]) -> None:
        rng = self.rng
        if rng.random() < 0.12:
            return  # registered, nothing deployed yet
        created = venue["created_at"]
        enrolled = created + timedelta(days=rng.uniform(0, 30) if rng.random() < 0.3 else rng.uniform(0, 150))
        enrolled = min(enrolled, self.now - timedelta(hours=1))
        for n in range(2 if rng.random() < 0.12 else 1):
            self._device(venue, enrolled, f"{venue['code']}-{n}", revoked=None)
        if rng.random() < 0.03:  # an old kiosk replaced
            self._device(venue, created, f"{venue['code']}-old", revoked=enrolled)
        scale = DAILY_SCANS[venue["category"]] * rng.uniform(0.3, 1.5)
        quiet = rng.random() < 0.1  # deployed, but the kiosk is hardly used
        for back in range(HISTORY_DAYS):
            day = self.today - timedelta(days=back)
            if day < local_day(enrolled):
                break
            heard = rng.random() < (0.4 if quiet else 0.93)
            scans = int(scale * rng.uniform(0.5, 1.2) * (0.6 if day.weekday() >= 5 else 1.0)) if heard else 0
            if back == 0:
                scans = int(scans * 0.4)  # today is not over
            if heard or scans:
                self.days.append({"venue_id": venue["id"], "day": day, "scans": scans,
                                  "accepted": int(scans * 0.97), "heard": heard})  # fmt: skip

    def _device(self, venue: dict[str, Any], enrolled: datetime, device_id: str, revoked: datetime | None) -> None:
        luck = self.rng.random()
        if revoked is not None:
            seen: datetime | None = revoked
        elif luck < 0.80:
            seen = self.now - timedelta(seconds=self.rng.uniform(0, 600))
        elif luck < 0.92:
            seen = self.now - timedelta(hours=self.rng.uniform(1, 48))
        elif luck < 0.97:
            seen = self.now - timedelta(days=self.rng.uniform(2, 20))
        else:
            seen = None
        if seen is not None:
            seen = max(seen, enrolled)
        self.devices.append({"id": device_id, "venue_id": venue["id"], "name": f"cổng {device_id}",
                             "public_key": bytes(32), "enrolled_at": enrolled, "revoked_at": revoked,
                             "last_seen_at": seen})  # fmt: skip


def load(engine: Engine, province: Province) -> None:
    with engine.begin() as conn:
        conn.execute(insert(units), province.units)
        conn.execute(insert(venues), province.venues)
        conn.execute(insert(devices), province.devices)
        if engine.dialect.name == "postgresql":
            _copy_days(conn, province.days)
            conn.exec_driver_sql("SELECT setval('units_id_seq', (SELECT max(id) FROM units))")
            conn.exec_driver_sql("SELECT setval('venues_id_seq', (SELECT max(id) FROM venues))")
        else:
            conn.execute(insert(venue_days), province.days)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def _copy_days(conn: Any, rows: list[dict[str, Any]]) -> None:
    columns = ["venue_id", "day", "scans", "accepted", "heard"]
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY venue_days ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def timed(engine: Engine, runs: int, work: Callable[[Any], object], warmup: int = 3) -> dict[str, float]:
    """Milliseconds of `work(conn)` on a pooled connection taken for each run, after `warmup` untimed runs."""
    samples = []
    for n in range(warmup + runs):
        began = time.perf_counter()
        with engine.connect() as conn:
            work(conn)
        if n >= warmup:
            samples.append((time.perf_counter() - began) * 1000)
    return pct(samples)


def dashboard(unit_id: int, now: datetime) -> Callable[[Any], object]:
    """What the page does for one request: the tree, the report, both charts and the CSV."""

    def work(conn: Any) -> object:
        report = unit_report(conn, unit_id, now, tree=UnitTree.load(conn))
        return scans_chart(report), coverage_chart(report), as_csv(report)

    return work


def report_only(unit_id: int, now: datetime) -> Callable[[Any], object]:
    return lambda conn: unit_report(conn, unit_id, now)


def among_others(engine: Engine, runs: int, now: datetime) -> dict[str, float]:
    """The province once the centre holds another province: its venues are then filtered by its 526 units."""
    with engine.begin() as conn:
        conn.execute(insert(units), [{"code": "68", "name": "Tỉnh Lâm Đồng", "parent_id": None, "created_at": now}])
    return timed(engine, runs, dashboard(1, now))


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        url = bench_url(kind, Path(tmp), args.pg_url)
        engine = connect(url)
        try:
            now = datetime.now(UTC)
            began = time.perf_counter()
            province = Province(now, args.venues, args.districts, args.communes)
            load(engine, province)
            built_s = time.perf_counter() - began
            district = max(province.district_ids, key=lambda d: sum(v["unit_id"] == d for v in province.venues))
            commune = province.commune_ids[0]
            with engine.connect() as conn:
                report = unit_report(conn, 1, now)
            today = local_day(now)
            totals = report.totals
            data = {"units": len(province.units), "venues": len(province.venues), "devices": len(province.devices),
                    "venue_days": len(province.days), "built_s": round(built_s, 1),
                    "coverage_pct": round(totals.coverage_pct or 0, 1), "online": totals.online,
                    "devices_offline": totals.devices_offline, "scans_7d": totals.scans_7d}  # fmt: skip
            count = select(func.count()).select_from(venues)
            return {
                "database": kind,
                "data": data,
                "runs": args.runs,
                "dashboard_ms": {
                    "province": timed(engine, args.runs, dashboard(1, now)),
                    "district": timed(engine, args.runs, dashboard(district, now)),
                    "commune": timed(engine, args.runs, dashboard(commune, now)),
                },
                "report_only_ms": {"province": timed(engine, args.runs, report_only(1, now))},
                "baseline_ms": {
                    "count_venues": timed(engine, args.runs, lambda c: c.execute(count).scalar()),
                    "load_unit_tree": timed(engine, args.runs, UnitTree.load),
                    "main_aggregate_province": timed(engine, args.runs, lambda c: _unit_figures(c, None, now, today)),
                },
                "province_among_others_ms": among_others(engine, args.runs, now),
            }
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    parser.add_argument("--venues", type=int, default=5000)
    parser.add_argument("--districts", type=int, default=25)
    parser.add_argument("--communes", type=int, default=500)
    parser.add_argument("--runs", type=int, default=30, help="timed runs of each measure (after 3 untimed)")
    parser.add_argument("--pg-url", help=f"a PostgreSQL server (its database {BENCH_DB} is used)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    emit({"machine": machine(), "target_ms": 500, "results": [run(kind, args) for kind in args.db]}, args.json)


if __name__ == "__main__":
    main()
