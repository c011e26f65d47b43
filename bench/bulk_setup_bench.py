#!/usr/bin/env python3
"""Bulk set-up (issue 17): a province's units.csv and venues.csv imported, and a district's enrolment sheet.

The province: 1 province, 10 districts, 100 communes (111 units) and 5,000 venues, 50 a commune, with addresses.
For each database:
  units_ms, venues_ms   `import_units` and `import_venues` of the CSV files into an empty centre (read, checked,
                        written, audited; one transaction each), best and median of --runs
  rerun_ms              both files again: nothing changes (read and compared only)
  baseline_ms           the least any import could cost: the same rows, ids worked out beforehand, written with one
                        raw executemany per table in one transaction (no CSV, no checks, no lookups)
  sheet_make_ms         `make_sheet` for one district (500 venues): 500 codes made, hashed, inserted, audited
  sheet_render_ms       `render_sheet` of it: 500 inline SVG QR codes in one HTML page, and its size

    .venv/bin/python bench/bulk_setup_bench.py --json                       # SQLite in a temporary directory
    scripts/with-postgres.sh sh -c \
        '.venv/bin/python bench/bulk_setup_bench.py --json --db sqlite --db "$KIOSK_TEST_PG_URL"'

A PostgreSQL --db is emptied (its public schema dropped and made again) before each run: give a throwaway one.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from bench.common import emit, machine
from central.bulk.render import render_sheet
from central.bulk.sheet import make_sheet
from central.bulk.units import import_units
from central.bulk.venues import import_venues
from central.db import connect, resolve_url
from central.schema import units, venues
from kiosk.redact import redact_url

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
DISTRICTS, COMMUNES, PER_COMMUNE = 10, 10, 50
CATEGORIES = ("market", "school", "office", "hospital", "restaurant")


def province() -> tuple[list[tuple[str, str, str | None]], list[tuple[str, str, str, str, str]]]:
    """The units (code, name, parent) and venues (code, name, unit, category, address), parents first."""
    unit_rows: list[tuple[str, str, str | None]] = [("67", "Tỉnh Đắk Nông", None)]
    venue_rows = []
    for d in range(DISTRICTS):
        district = f"{660 + d:03d}"
        unit_rows.append((district, f"Huyện số {d + 1}", "67"))
        for c in range(COMMUNES):
            commune = f"{24611 + d * 100 + c:05d}"
            unit_rows.append((commune, f"Xã số {c + 1}, huyện {d + 1}", district))
            for n in range(PER_COMMUNE):
                category = CATEGORIES[n % len(CATEGORIES)]
                venue_rows.append((f"DN-{commune}-{n:03d}", f"Địa điểm {n + 1} xã {commune}", commune, category,
                                   f"Thôn {n % 9 + 1}, xã {c + 1}"))  # fmt: skip
    return unit_rows, venue_rows


def as_csv(header: str, rows: list[tuple[Any, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue().encode()


def fresh(target: str, work: Path, run: int) -> Engine:
    """An empty, migrated centre: a new SQLite file, or the PostgreSQL database's schema dropped and made again."""
    if target == "sqlite":
        return connect(f"sqlite:///{work / f'central-{run}.db'}")
    url = resolve_url(target)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return connect(url)


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def baseline(engine: Engine, unit_rows: list[tuple[str, str, str | None]], venue_rows: list[Any]) -> float:
    """The same rows written raw: ids given, one executemany a table, one transaction."""
    ids = {code: n + 1 for n, (code, _, _) in enumerate(unit_rows)}
    unit_values = [
        {"id": ids[code], "code": code, "name": name, "parent_id": ids[parent] if parent else None, "created_at": NOW}
        for code, name, parent in unit_rows
    ]
    venue_values = [
        {"code": code, "name": name, "unit_id": ids[unit], "category": category, "address": address, "created_at": NOW}
        for code, name, unit, category, address in venue_rows
    ]

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(units.insert(), unit_values)
            conn.execute(venues.insert(), venue_values)

    return timed(write)[0]


def imports(engine: Engine, unit_file: bytes, venue_file: bytes, rows: tuple[int, int]) -> dict[str, float]:
    """Both files into an empty centre, one transaction each, then both again (nothing to change)."""
    with engine.begin() as conn:
        units_ms, done = timed(partial(import_units, conn, unit_file, actor="bench", now=NOW))
    assert done.added == rows[0]
    with engine.begin() as conn:
        venues_ms, done = timed(partial(import_venues, conn, venue_file, actor="bench", now=NOW))
    assert done.added == rows[1]
    started = time.perf_counter()
    with engine.begin() as conn:
        assert import_units(conn, unit_file, actor="bench", now=NOW).unchanged == rows[0]
        assert import_venues(conn, venue_file, actor="bench", now=NOW).unchanged == rows[1]
    return {"units_ms": units_ms, "venues_ms": venues_ms, "rerun_ms": (time.perf_counter() - started) * 1000}


def district_sheet(engine: Engine) -> dict[str, Any]:
    """The enrolment sheet of district 660 (its 500 venues): made in one transaction, then rendered."""
    server = "https://central.example.vn"
    with engine.begin() as conn:
        make_ms, made = timed(partial(make_sheet, conn, "660", server=server, valid_days=14, now=NOW, actor="bench"))
    render_ms, page = timed(partial(render_sheet, made))
    return {
        "sheet_venues": len(made.entries),
        "sheet_make_ms": round(make_ms, 1),
        "sheet_render_ms": round(render_ms, 1),
        "sheet_kb": len(page.encode()) // 1024,
    }


def one_database(target: str, runs: int, work: Path) -> dict[str, Any]:
    unit_rows, venue_rows = province()
    unit_file = as_csv("code,name,parent", unit_rows[::-1])  # children first: the order must not matter
    venue_file = as_csv("code,name,unit,category,address", venue_rows)
    found: dict[str, list[float]] = {key: [] for key in ("units_ms", "venues_ms", "rerun_ms", "baseline_ms")}
    sheet: dict[str, Any] = {}
    for run in range(runs):
        engine = fresh(target, work, 2 * run)
        found["baseline_ms"].append(baseline(engine, unit_rows, venue_rows))
        engine.dispose()
        engine = fresh(target, work, 2 * run + 1)
        for key, value in imports(engine, unit_file, venue_file, (len(unit_rows), len(venue_rows))).items():
            found[key].append(value)
        sheet = sheet or district_sheet(engine)
        engine.dispose()
    figures: dict[str, Any] = {
        key: {"best": round(min(values), 1), "median": round(statistics.median(values), 1)}
        for key, values in found.items()
    }
    total = [u + v for u, v in zip(found["units_ms"], found["venues_ms"], strict=True)]
    figures["import_total_ms"] = {"best": round(min(total), 1), "median": round(statistics.median(total), 1)}
    name = "sqlite" if target == "sqlite" else "postgresql"
    shown = "sqlite (temporary file)" if target == "sqlite" else redact_url(resolve_url(target))
    return {"database": name, "url": shown, "units": len(unit_rows), "venues": len(venue_rows), **figures, **sheet}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", action="append", help="sqlite, or a PostgreSQL URL to empty and use (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        results = [one_database(target, args.runs, Path(work)) for target in args.db or ["sqlite"]]
    emit({"machine": machine(), "runs": args.runs, "results": results}, args.json)


if __name__ == "__main__":
    main()
