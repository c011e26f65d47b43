"""Fill a PostgreSQL database with realistic gate events, for the tracing benchmark (bench/trace_bench.py).

A large centre: 5,000 venues of every category in a unit tree (country > 63 provinces > 10 communes each),
300,000 people, 90 days. How often a person passes a gate follows a Zipf-like law (the busiest 16 times as
often as the average person, about 4 visits a day; the least half as often). Each person has a handful of usual
venues (85 % of visits), the rest anywhere, busy venues more often (Zipf again), and is at one place at a time.
Visits start around the hours of their category (offices at 8, hotels in the evening) and last about the
category's usual time. A quarter of the venues only watch the entrance ("in" only); elsewhere 12 % of exits and
2 % of entries are missing; 2.5 % of entries are refused (DENY, no exit). Events are received minutes after
they happen, 2 % up to three days later (a kiosk offline). Subject keys are md5("person-<n>"), so the benchmark
can name people.

It is fast because nothing goes through the ORM: the visits are made with numpy, written to an unlogged staging
table with binary COPY (psycopg), and turned into `events` rows by PostgreSQL itself, into daily partitions
made beforehand, with the primary key and indexes dropped during the load and made again after it. Then
VACUUM ANALYZE. `event_keys` and the dashboard's rollup are not filled: tracing reads neither.

    .venv/bin/python bench/gen_events.py [--events 10000000] [--db URL] [--reuse] [--json]

The database: --db, else a database `kiosk_bench` (made if missing) on the cluster of scripts/test-postgres.sh.
Its `public` schema is dropped and made again, unless --reuse finds it filled with as many events already.
Never the test suite's kiosk_test database, which the tests reset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from common import ROOT, add_repo_to_path, emit, machine

add_repo_to_path()

from sqlalchemy import Connection, Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from central.categories import CATEGORIES  # noqa: E402
from central.db import connect, resolve_url  # noqa: E402
from central.partitions import partition_name  # noqa: E402

VENUES = 5_000
PEOPLE = 300_000
DAYS = 90
PROVINCES, COMMUNES = 63, 10
ACTIVITY_OFFSET, ACTIVITY_EXPONENT = 300, 0.5  # person i passes gates in proportion to 1/(i + 300)^0.5
POPULARITY_EXPONENT = 0.9  # venue of rank r is chosen in proportion to 1/(r + 10)^0.9
USUAL_SHARE, USUAL_MAX = 0.85, 6
TRAVEL_S = 600  # a person's next visit starts at least this long after the last one ended
ENTRANCE_ONLY, NO_EXIT, NO_ENTRY, REFUSED, LATE = 0.25, 0.12, 0.02, 0.025, 0.02
LOCAL = 7 * 3600  # the visits' hours are Vietnam's (+07:00)

# category: (share of venues, hour of arrival mean, sd, median stay in minutes)
PROFILE: dict[str, tuple[float, float, float, float]] = {
    "office": (0.16, 8.0, 1.0, 480),
    "factory": (0.08, 7.0, 1.5, 480),
    "school": (0.10, 7.5, 0.7, 300),
    "hospital": (0.03, 10.0, 3.0, 90),
    "station": (0.03, 12.0, 4.0, 25),
    "vehicle": (0.05, 12.0, 4.0, 60),
    "market": (0.12, 10.0, 4.0, 45),
    "restaurant": (0.20, 15.0, 4.0, 50),
    "hotel": (0.03, 17.0, 3.0, 600),
    "event": (0.01, 15.0, 3.0, 150),
    "religious": (0.03, 9.0, 4.0, 60),
    "tourism": (0.03, 11.0, 3.0, 120),
    "residential": (0.05, 18.0, 3.0, 600),
    "checkpoint": (0.02, 12.0, 5.0, 3),
    "other": (0.06, 12.0, 4.0, 60),
}
assert set(PROFILE) == set(CATEGORIES)

STAGING = np.dtype(
    [("n", ">i2"), ("l0", ">i4"), ("id", ">i4"), ("l1", ">i4"), ("person", ">i4"), ("l2", ">i4"), ("venue", ">i4"),
     ("l3", ">i4"), ("t", ">f8"), ("l4", ">i4"), ("received", ">f8"), ("l5", ">i4"), ("flags", ">i2")]
)  # a row of bench_staging in binary COPY: field count, then (length, big-endian value) per field  # fmt: skip
OUT, DENY = 1, 2  # staging flags


def subject_key(person: int) -> str:
    return hashlib.md5(f"person-{person}".encode()).hexdigest()  # noqa: S324 (a stand-in subject key, as made in SQL)


def activity() -> np.ndarray:
    """How often each person passes a gate, relative (sums to 1)."""
    weights = 1.0 / (np.arange(PEOPLE) + ACTIVITY_OFFSET) ** ACTIVITY_EXPONENT
    return weights / weights.sum()


def bench_url(flag: str | None) -> str:
    """--db, else kiosk_bench (made if missing) on the test cluster; never kiosk_test."""
    if flag:
        url = resolve_url(flag)
    else:
        found = subprocess.run([ROOT / "scripts" / "test-postgres.sh"], capture_output=True, text=True, check=True)
        if not found.stdout.strip():
            raise SystemExit("PostgreSQL is not available: give --db or run scripts/test-postgres.sh")
        url = resolve_url(found.stdout.strip())
        _create_database(url, "kiosk_bench")
        url = make_url(url).set(database="kiosk_bench").render_as_string(hide_password=False)
    if make_url(url).database == "kiosk_test":
        raise SystemExit("not kiosk_test: the test suite resets it; give a database of its own (kiosk_bench)")
    if not url.startswith("postgresql"):
        raise SystemExit("the tracing benchmark needs PostgreSQL (partitions, COPY)")
    return url


def _create_database(url: str, name: str) -> None:
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def filled(url: str, events: int) -> dict[str, Any] | None:
    """What an earlier run left (bench_meta), if it made `events` events."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('bench_meta')")).scalar() is None:
                return None
            row = conn.execute(text("SELECT meta FROM bench_meta")).scalar()
    finally:
        engine.dispose()
    return row if isinstance(row, dict) and row.get("events") == events else None


# The visits (numpy)


def make_events(count: int, end: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """`count` events ending at `end` (epoch seconds) as staging columns, in the order they were received; and
    each venue's category index."""
    rng = np.random.default_rng(seed)
    categories = list(PROFILE)
    profile = np.array([PROFILE[c] for c in categories])
    venue_category = rng.choice(len(categories), VENUES, p=profile[:, 0] / profile[:, 0].sum())
    popularity = 1.0 / (rng.permutation(VENUES) + 10.0) ** POPULARITY_EXPONENT
    popularity /= popularity.sum()
    world = {
        "profile": profile,
        "category": venue_category,
        "popularity": popularity,
        "entrance_only": rng.random(VENUES) < ENTRANCE_ONLY,
        "usual": rng.choice(VENUES, (PEOPLE, USUAL_MAX), p=popularity),
        "usual_count": rng.integers(2, USUAL_MAX + 1, PEOPLE),
        "first_midnight": np.array((end // 86400 - DAYS) * 86400 - LOCAL),  # local midnight DAYS days before end
    }
    planned = count / 1.6 * 1.4  # events per visit, and visits dropped as overlapping
    while True:
        visits = _one_place_at_a_time(rng, _visits(rng, int(planned), world))
        columns = _passages(rng, visits, end, count)
        if columns is not None:
            order = np.argsort(columns["received"], kind="stable")
            return {name: values[order] for name, values in columns.items()}, venue_category
        planned *= 1.3


def _visits(rng: np.random.Generator, count: int, world: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    profile, category_of = world["profile"], world["category"]
    person = rng.choice(PEOPLE, count, p=activity())
    pick = (rng.random(count) * world["usual_count"][person]).astype(np.int64)
    anywhere = rng.choice(VENUES, count, p=world["popularity"])
    venue = np.where(rng.random(count) < USUAL_SHARE, world["usual"][person, pick], anywhere)
    category = category_of[venue]
    hour = np.clip(rng.normal(profile[category, 1], profile[category, 2]), 0.0, 23.9)
    start = world["first_midnight"] + rng.integers(0, DAYS, count) * 86400.0 + hour * 3600.0
    stay = np.clip(rng.lognormal(np.log(profile[category, 3] * 60.0), 0.5), 60.0, 20 * 3600.0)
    refused = rng.random(count) < REFUSED
    entrance_only = world["entrance_only"][venue]
    has_out = ~entrance_only & ~refused & (rng.random(count) >= NO_EXIT)
    has_in = entrance_only | refused | (rng.random(count) >= NO_ENTRY)
    return {"person": person, "venue": venue, "start": start, "finish": start + stay, "refused": refused,
            "has_in": has_in, "has_out": has_out}  # fmt: skip


def _one_place_at_a_time(rng: np.random.Generator, visits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The visits that begin after the same person's earlier ones have ended (and TRAVEL_S to get there), in
    random order. Offsetting each person's times by person * 1e10 keeps a running maximum within the person."""
    order = np.lexsort((visits["start"], visits["person"]))
    person, start, finish = visits["person"][order], visits["start"][order], visits["finish"][order]
    offset = person * 1e10
    busy_until = np.concatenate([[-np.inf], (np.maximum.accumulate(offset + finish) - offset)[:-1]])
    same = np.concatenate([[False], person[1:] == person[:-1]])
    kept = order[~(same & (start < busy_until + TRAVEL_S))]
    kept = kept[rng.permutation(len(kept))]
    return {name: values[kept] for name, values in visits.items()}


def _passages(
    rng: np.random.Generator, visits: dict[str, np.ndarray], end: float, count: int
) -> dict[str, np.ndarray] | None:
    """Exactly `count` events of the first visits (an exit dropped if one too many); None if they are too few.
    Exits after `end` have not happened yet."""
    has_out = visits["has_out"] & (visits["finish"] <= end)
    total = np.cumsum(visits["has_in"].astype(np.int64) + has_out)
    if total[-1] < count:
        return None
    last = int(np.searchsorted(total, count))
    if total[last] > count:
        has_out[last] = False
    ins, outs = visits["has_in"][: last + 1], has_out[: last + 1]
    first = {name: values[: last + 1] for name, values in visits.items()}
    t = np.concatenate([first["start"][ins], first["finish"][outs]])
    person = np.concatenate([first["person"][ins], first["person"][outs]])
    venue = np.concatenate([first["venue"][ins], first["venue"][outs]])
    flags = np.concatenate([np.where(first["refused"][ins], DENY, 0), np.full(int(outs.sum()), OUT)])
    late = np.where(rng.random(len(t)) < LATE, rng.random(len(t)) * 3 * 86400, 0.0)
    received = np.minimum(t + rng.exponential(120.0, len(t)) + late, end)
    return {"person": person, "venue": venue, "t": t, "received": received, "flags": flags}


def staging_bytes(columns: dict[str, np.ndarray]) -> bytes:
    """The rows in PostgreSQL's binary COPY format, made in one go by numpy."""
    rows = np.zeros(len(columns["t"]), dtype=STAGING)
    rows["n"] = 6
    rows["l0"], rows["id"] = 4, np.arange(1, len(rows) + 1)  # numbered in the order received
    for length, name, size in (("l1", "person", 4), ("l2", "venue", 4), ("l3", "t", 8), ("l4", "received", 8)):
        rows[length] = size
        rows[name] = columns[name]
    rows["l5"], rows["flags"] = 2, columns["flags"]
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


# The database


def fill(url: str, count: int, seed: int, workers: int) -> dict[str, Any]:
    """Make the schema, the units and venues, and `count` events; returns what was made and how long it took."""
    timings: dict[str, float] = {}
    began = time.perf_counter()
    end = float(datetime.now(UTC).replace(minute=0, second=0, microsecond=0).timestamp())
    columns, venue_category = make_events(count, end, seed)
    timings["generate_s"] = time.perf_counter() - began
    _fresh_schema(url)
    engine = connect(url)  # migrates
    try:
        with engine.begin() as conn:
            _units_and_venues(conn, venue_category, end)
            _partitions(conn, columns["received"].min(), end)
            step = time.perf_counter()
            _stage(conn, columns)
            timings["copy_s"] = time.perf_counter() - step
            conn.execute(text("ALTER TABLE events DROP CONSTRAINT events_pkey"))
            conn.execute(text("DROP INDEX events_subject_time, events_venue_time, events_venue_presence"))
        step = time.perf_counter()
        _insert(engine, workers)
        timings["insert_s"] = time.perf_counter() - step
        step = time.perf_counter()
        timings.update(_index(engine))
        timings["index_s"] = time.perf_counter() - step
        step = time.perf_counter()
        meta = _finish(engine, count, end, seed)
        timings["vacuum_analyze_s"] = time.perf_counter() - step
    finally:
        engine.dispose()
    timings["total_s"] = time.perf_counter() - began
    return {**meta, **{k: round(v, 1) for k, v in timings.items()}}


def _fresh_schema(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def _units_and_venues(conn: Connection, venue_category: np.ndarray, end: float) -> None:
    created = datetime.fromtimestamp(end, UTC) - timedelta(days=DAYS + 30)
    units = [{"id": 1, "code": "VN", "name": "Việt Nam", "parent_id": None, "created_at": created}]
    for p in range(PROVINCES):
        units.append({"id": 2 + p, "code": f"P{p:02d}", "name": f"Tỉnh {p}", "parent_id": 1, "created_at": created})
    first = len(units) + 1
    for c in range(PROVINCES * COMMUNES):
        row = {"id": first + c, "code": f"P{c // COMMUNES:02d}-{c % COMMUNES}", "name": f"Xã {c}"}
        units.append({**row, "parent_id": 2 + c // COMMUNES, "created_at": created})
    conn.execute(text("INSERT INTO units VALUES (:id, :code, :name, :parent_id, :created_at)"), units)
    names = list(PROFILE)
    communes = np.random.default_rng(1).integers(0, PROVINCES * COMMUNES, VENUES)
    venues = [
        {"id": v + 1, "code": f"V{v:05d}", "name": f"Venue {v}", "unit": first + int(communes[v]),
         "category": names[int(venue_category[v])], "created_at": created}
        for v in range(VENUES)
    ]  # fmt: skip
    conn.execute(
        text("INSERT INTO venues (id, code, name, unit_id, category, created_at) "
             "VALUES (:id, :code, :name, :unit, :category, :created_at)"),
        venues,
    )  # fmt: skip
    conn.execute(text("SELECT setval(pg_get_serial_sequence('units', 'id'), (SELECT max(id) FROM units))"))
    conn.execute(text("SELECT setval(pg_get_serial_sequence('venues', 'id'), (SELECT max(id) FROM venues))"))


def _partitions(conn: Connection, earliest: float, end: float) -> None:
    day = datetime.fromtimestamp(earliest, UTC).date()
    last = datetime.fromtimestamp(end, UTC).date() + timedelta(days=7)
    while day <= last:
        following = day + timedelta(days=1)
        bounds = f"FOR VALUES FROM ('{day}') TO ('{following}')"
        conn.execute(text(f"CREATE TABLE {partition_name(day)} PARTITION OF events {bounds}"))
        day = following


def _stage(conn: Connection, columns: dict[str, np.ndarray]) -> None:
    columns_sql = "id int4, person int4, venue int4, t float8, received float8, flags int2"
    conn.execute(text(f"CREATE UNLOGGED TABLE bench_staging ({columns_sql})"))
    data = staging_bytes(columns)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy("COPY bench_staging FROM STDIN (FORMAT BINARY)") as copy:
        for offset in range(0, len(data), 1 << 24):
            copy.write(data[offset : offset + (1 << 24)])


INSERT = """
INSERT INTO events (event_id, received_day, device_id, venue_id, boot_id, seq, wall_time, mono_time, time,
                    time_synced, received_at, direction, kind, subject_key, decision, reason, decoder, latency_ms)
SELECT md5('event-' || id)::uuid::text, (to_timestamp(received) AT TIME ZONE 'UTC')::date, 'bench-' || venue,
       venue + 1, 'boot-' || venue, id, t, t - 1.7e9, to_timestamp(t), true, to_timestamp(received),
       CASE WHEN flags & 1 = 1 THEN 'out' ELSE 'in' END, CASE WHEN person % 10 < 7 THEN 'cccd' ELSE 'pc-covid' END,
       md5('person-' || person), CASE WHEN flags & 2 = 2 THEN 'DENY' ELSE 'ACCEPT' END,
       CASE WHEN flags & 2 = 2 THEN 'denylisted' ELSE 'logged' END, 'zxing', 4.2
FROM bench_staging WHERE id % :workers = :part
"""


def _insert(engine: Engine, workers: int) -> None:
    """INSERT ... SELECT in `workers` connections at once, each a share of the rows in the order received."""
    errors: list[BaseException] = []

    def part(index: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                conn.execute(text("SET LOCAL synchronize_seqscans = off"))  # each reads the rows in received order
                conn.execute(text(INSERT), {"workers": workers, "part": index})
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=part, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


INDEXES = {
    "pkey": "ALTER TABLE events ADD PRIMARY KEY (event_id, venue_id, received_day)",
    "subject_time": "CREATE INDEX events_subject_time ON events (subject_key, time)",
    "venue_time": "CREATE INDEX events_venue_time ON events (venue_id, time)",
    "venue_presence": "CREATE INDEX events_venue_presence ON events (venue_id, time) "
    "INCLUDE (subject_key, direction, received_day) WHERE decision = 'ACCEPT' AND subject_key IS NOT NULL",
}


def _index(engine: Engine) -> dict[str, float]:
    """The primary key and the indexes of central/schema.py, as the migrations make them (0016, 0017), each
    built in one pass; seconds each took (index_<name>_s)."""
    took = {}
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
        for name, statement in INDEXES.items():
            step = time.perf_counter()
            conn.execute(text(statement))
            took[f"index_{name}_s"] = time.perf_counter() - step
    return took


def _finish(engine: Engine, count: int, end: float, seed: int) -> dict[str, Any]:
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_staging"))
        held = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
        if held != count:
            raise SystemExit(f"{held} events stored, {count} made")
        meta = {"events": count, "people": PEOPLE, "venues": VENUES, "days": DAYS, "seed": seed, "end": end,
                "end_iso": datetime.fromtimestamp(end, UTC).isoformat()}  # fmt: skip
        conn.execute(text("CREATE TABLE bench_meta (meta json NOT NULL)"))
        conn.execute(text("INSERT INTO bench_meta VALUES (CAST(:m AS json))"), {"m": json.dumps(meta)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) events"))
        conn.execute(text("ANALYZE venues"))
        conn.execute(text("ANALYZE units"))
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", help="PostgreSQL URL (default: kiosk_bench on scripts/test-postgres.sh's cluster)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds --events events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="connections inserting at once")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = bench_url(args.db)
    meta = filled(url, args.events) if args.reuse else None
    made = {"reused": True, **meta} if meta else {"reused": False, **fill(url, args.events, args.seed, args.workers)}
    emit({"benchmark": "gen_events", "machine": machine(), **made}, args.json)


if __name__ == "__main__":
    main()
