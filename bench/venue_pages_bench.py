"""The venue admin pages (central/web/venues_pages.py) with a province's worth of venues, over HTTP on loopback.

A province is filled first with bulk inserts (never the API): 1 province, 20 districts, 250 communes (3 levels),
5,000 venues and 50,000 devices, each device with a heartbeat as a kiosk sends it (most heard within 15 minutes,
some hours ago, a few never, a few revoked). The centre is then served by uvicorn in a thread, as
tests/central_fixtures.py's CentralServer does, and an administrator's requests are timed, p50/p95 over --runs:

- /venues (the first page), a search without diacritics, a district filter, a commune filter with a state;
- /venues/{code} of random venues (about 10 kiosks each, with their faults);
- a unit officer's /venues (their district's subtree);
- /healthz as the baseline: the same HTTP round trip through the same server, with one SELECT.

Then 50,000 heartbeats through the real code path, `central.devices.record_heartbeat` + `central.rollup.mark_heard`
(what POST /api/v1/heartbeat calls), one call per heartbeat, in transactions of --beat-batch (the API commits each
one on its own: a sample of 1,000 single-heartbeat transactions is timed too); the baseline is one executemany
UPDATE of the same 50,000 rows' last_seen_at.

    .venv/bin/python bench/venue_pages_bench.py [--db URL ...] [--runs 40] [--json]

--db: "sqlite" (a file in a temporary directory, the default) or a database URL of a throwaway database holding no
venue (it is refused otherwise): the bench fills it. PostgreSQL:
scripts/with-postgres.sh gives a throwaway one,
`scripts/with-postgres.sh sh -c '.venv/bin/python bench/venue_pages_bench.py --db sqlite --db "$KIOSK_TEST_PG_URL"'`.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

from argon2 import PasswordHasher  # noqa: E402
from central_fixtures import CentralServer  # noqa: E402
from sqlalchemy import Engine, bindparam, func, insert, select, text, update  # noqa: E402

from central.categories import CATEGORIES  # noqa: E402
from central.db import connect, resolve_url  # noqa: E402
from central.devices import record_heartbeat  # noqa: E402
from central.rollup import mark_heard  # noqa: E402
from central.schema import accounts, devices, units, venues  # noqa: E402
from central.venues.search import fill_missing  # noqa: E402

PASSWORD = "bench password 67"  # noqa: S105 (the bench accounts' own, in a database made here)
DISTRICTS, COMMUNES = 20, 250
NAMES = ["Bệnh viện Đa khoa", "Trường Tiểu học", "Chợ", "Ủy ban nhân dân", "Nhà máy", "Khách sạn", "Bến xe",
         "Trạm Y tế", "Trường THCS", "Siêu thị"]  # fmt: skip


def heartbeat(rng: random.Random) -> dict[str, Any]:
    """A kiosk's heartbeat (kiosk/ops/statusreport.py), with a fault now and then."""
    return {
        "backlog": rng.choice([0, 0, 0, 0, 3, 12, 250]),
        "oldest_unsent_age_s": rng.choice([None, 30.0, 900.0]),
        "quarantined": 0,
        "fps": 14.8, "frames": 1_250_000, "dropped": 12, "decisions": {"ACCEPT": 4000, "DENY": 30},
        "decision_ms": {"p50": 3.1, "p95": 7.9}, "disk_free_mb": rng.choice([5000, 12000, 150]),
        "store": {"fault": None if rng.random() > 0.02 else "disk I/O error", "errors": 0, "recovered": None},
        "clock_synced": rng.random() > 0.03, "version": "1.4.2", "boot_id": str(uuid.uuid4()), "uptime_s": 86400,
        "occupancy": 42, "scanners": [{"name": "front", "connected": rng.random() > 0.02, "scans": 10, "refused": 0,
                                        "disconnects": 0, "last_error": None}],
        "osdp": None if rng.random() > 0.1 else {"port": "/dev/ttyUSB0", "online": rng.random() > 0.1, "secure": True,
                                                 "reported": 100, "dropped": 0, "commands": 100, "refused": 0},
        "received_at": "2026-12-07T02:00:00+00:00",
    }  # fmt: skip


def fill(engine: Engine, now: datetime, venue_count: int, device_count: int, seed: int = 67) -> dict[str, Any]:
    """The province's rows by bulk inserts; returns the codes the timings ask for."""
    rng = random.Random(seed)
    long_ago = now - timedelta(days=400)
    unit_rows = [{"id": 1, "code": "67", "name": "Tỉnh Đắk Nông", "parent_id": None, "created_at": long_ago}]
    unit_rows += [{"id": 2 + d, "code": f"67{d:03d}", "name": f"Huyện Số {d + 1}", "parent_id": 1,
                   "created_at": long_ago} for d in range(DISTRICTS)]  # fmt: skip
    communes = list(range(2 + DISTRICTS, 2 + DISTRICTS + COMMUNES))
    for c in communes:
        district = (c - 2 - DISTRICTS) % DISTRICTS
        unit_rows.append({"id": c, "code": f"67{district:03d}{c:05d}", "name": f"Xã Số {c}", "parent_id": 2 + district,
                          "created_at": long_ago})  # fmt: skip
    categories = list(CATEGORIES)
    venue_rows = [{"id": n + 1, "code": f"V{n + 1:05d}", "name": f"{rng.choice(NAMES)} số {n + 1}",
                   "unit_id": rng.choice(communes), "category": rng.choice(categories), "created_at": long_ago}
                  for n in range(venue_count)]  # fmt: skip
    per_venue = device_count / venue_count
    device_rows: list[dict[str, Any]] = []
    while len(device_rows) < device_count:
        venue = rng.choice(venue_rows) if len(device_rows) else venue_rows[0]
        for _ in range(max(1, int(rng.uniform(0.5, 1.5) * per_venue))):
            if len(device_rows) >= device_count:
                break
            roll = rng.random()
            seen = None if roll < 0.02 else now - timedelta(minutes=rng.uniform(0, 14) if roll < 0.85 else 60 * 30)
            device_rows.append({"id": str(uuid.UUID(int=rng.getrandbits(128))), "venue_id": venue["id"],
                                "name": "gate", "public_key": b"\0" * 32, "enrolled_at": long_ago,
                                "revoked_at": now if rng.random() < 0.01 else None, "last_seen_at": seen,
                                "last_heartbeat": None if seen is None else heartbeat(rng)})  # fmt: skip
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(venues)).scalar_one():
            raise SystemExit("the database already holds venues: give an empty one (nothing is dropped)")
        conn.execute(insert(units), unit_rows)
        for start in range(0, len(venue_rows), 5000):
            conn.execute(insert(venues), venue_rows[start : start + 5000])
        for start in range(0, len(device_rows), 5000):
            conn.execute(insert(devices), device_rows[start : start + 5000])
        hashed = PasswordHasher().hash(PASSWORD)
        conn.execute(insert(accounts), [
            {"username": "admin", "password_hash": hashed, "role": "administrator", "created_at": now},
            {"username": "officer", "password_hash": hashed, "role": "unit_officer", "unit_id": 2, "created_at": now},
        ])  # fmt: skip
        started = time.perf_counter()
        folded = fill_missing(conn)
        fold_s = time.perf_counter() - started
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE")
    with_kiosks = sorted({row["venue_id"] for row in device_rows})
    return {
        "venue_codes": [f"V{n:05d}" for n in rng.sample(with_kiosks, 50)],
        "device_ids": [row["id"] for row in device_rows],  # the revoked ones too: 50,000 heartbeats
        "venue_of": {row["id"]: row["venue_id"] for row in device_rows},
        "fold_s": round(fold_s, 3),
        "folded": folded,
    }


def session(base: str, username: str) -> requests.Session:
    http = requests.Session()
    page = http.get(base + "/login", timeout=30).text
    token = page.split('name="csrf" value="')[1].split('"')[0]
    answer = http.post(base + "/login", data={"username": username, "password": PASSWORD, "csrf": token},
                       allow_redirects=False, timeout=30)  # fmt: skip
    assert answer.status_code == 303, answer.text[:300]
    return http


def timed(http: requests.Session, base: str, paths: list[str], runs: int) -> dict[str, float]:
    samples = []
    for n in range(runs):
        path = paths[n % len(paths)]
        started = time.perf_counter()
        answer = http.get(base + path, timeout=60)
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return pct(samples)


def pages(url: str, now: datetime, found: dict[str, Any], runs: int) -> dict[str, Any]:
    from central_fixtures import FakeClock

    with CentralServer(url, clock=FakeClock(now)) as server:
        admin, officer = session(server.url, "admin"), session(server.url, "officer")
        timed(admin, server.url, ["/venues"], 5)  # warm: the pool's connections, the templates
        return {
            "healthz (baseline)": timed(admin, server.url, ["/healthz"], runs),
            "/venues first page": timed(admin, server.url, ["/venues"], runs),
            "/venues?q=benh vien": timed(admin, server.url, ["/venues?q=benh+vien", "/venues?q=cho+so+4"], runs),
            "/venues?unit=<district>": timed(admin, server.url, [f"/venues?unit=67{d:03d}" for d in range(5)], runs),
            "/venues?unit=<commune>&state=offline": timed(
                admin,
                server.url,
                [f"/venues?unit=67{c % DISTRICTS:03d}{c + 2 + DISTRICTS:05d}&state=offline" for c in range(5)],
                runs,
            ),
            "/venues?state=none (whole province)": timed(admin, server.url, ["/venues?state=none"], runs),
            "/venues/{code}": timed(admin, server.url, [f"/venues/{c}" for c in found["venue_codes"]], runs),
            "officer /venues (district subtree)": timed(officer, server.url, ["/venues"], runs),
        }


def heartbeats(engine: Engine, now: datetime, found: dict[str, Any], batch: int) -> dict[str, Any]:
    ids: list[str] = found["device_ids"]
    venue_of: dict[str, int] = found["venue_of"]
    body = heartbeat(random.Random(1))
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        with engine.begin() as conn:
            for device_id in ids[start : start + batch]:
                record_heartbeat(conn, device_id, body, now)
                mark_heard(conn, venue_of[device_id], now)
    batched_s = time.perf_counter() - started
    sample = ids[:1000]
    started = time.perf_counter()
    for device_id in sample:
        with engine.begin() as conn:
            record_heartbeat(conn, device_id, body, now)
            mark_heard(conn, venue_of[device_id], now)
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        statement = update(devices).where(devices.c.id == bindparam("did")).values(last_seen_at=bindparam("seen"))
        conn.execute(statement, [{"did": device_id, "seen": now} for device_id in ids])
    raw_s = time.perf_counter() - started
    return {
        "heartbeats": len(ids),
        f"record_heartbeat+mark_heard, {batch} per transaction: total s": round(batched_s, 2),
        "  per heartbeat, us": round(1e6 * batched_s / len(ids), 1),
        "one per transaction (as the API), 1,000 sampled: per heartbeat, ms": round(1000 * single_s / len(sample), 3),
        "baseline: one executemany UPDATE of last_seen_at, total s": round(raw_s, 2),
    }


def run(url: str, venue_count: int, device_count: int, runs: int, batch: int) -> dict[str, Any]:
    engine = connect(url)
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        found = fill(engine, now, venue_count, device_count)
        filled_s = time.perf_counter() - started
        with engine.connect() as conn:
            plan = _plans(conn, now)
        result: dict[str, Any] = {"fill_s": round(filled_s, 1), "fold 5,000 venues, s": found["fold_s"]}
        result["pages_ms"] = pages(url, now, found, runs)
        result["heartbeats"] = heartbeats(engine, now, found, batch)
        result["plans"] = plan
        return result
    finally:
        engine.dispose()


def _plans(conn: Any, now: datetime) -> dict[str, str]:
    """How the database answers the list's two heaviest questions: the offline filter, the kiosks' figures (both
    from the index on devices.venue_id)."""
    cut = (now - timedelta(minutes=15)).isoformat(" ") if conn.dialect.name == "sqlite" else now - timedelta(minutes=15)
    offline = (
        "SELECT v.code FROM venues v WHERE v.retired_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE "
        "d.venue_id = v.id AND d.revoked_at IS NULL AND (d.last_seen_at IS NULL OR d.last_seen_at < :cut)) "
        "ORDER BY v.code LIMIT 51"
    )
    figures = "SELECT venue_id, last_seen_at FROM devices WHERE venue_id IN (1, 2, 3) AND revoked_at IS NULL"
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    found = {}
    for name, query in (("state=offline", offline), ("kiosk figures", figures)):
        rows = conn.execute(text(explain + query), {"cut": cut}).all()
        found[name] = " | ".join(str(row[-1]) for row in rows)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", action="append", help='"sqlite" (a temporary file) or a URL; repeat for several')
    parser.add_argument("--venues", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--beat-batch", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": machine(), "venues": args.venues, "devices": args.devices, "runs": args.runs}
    with tempfile.TemporaryDirectory() as work:
        for given in args.db or ["sqlite"]:
            url = f"sqlite:///{Path(work) / 'central.db'}" if given == "sqlite" else resolve_url(given)
            kind = "sqlite" if url.startswith("sqlite") else "postgresql"
            result[kind] = run(url, args.venues, args.devices, args.runs, args.beat_batch)
    emit(result, args.json)


if __name__ == "__main__":
    main()
