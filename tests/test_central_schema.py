"""The central database's schema: the migrations make exactly `central.schema`, events are partitioned on
PostgreSQL (retention is a partition drop), and the committed OpenAPI document is the API's."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from central_fixtures import PG_ENV, add_unit, add_venue, device_time, fresh_database, make_events, new_enroll_code
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func, select, text

from central.db import connect
from central.devices import Device, enroll
from central.ingest import ingest
from central.models import DeviceTime, EventIn
from central.openapi import document
from central.partitions import ensure_partitions, partition_name, purge_before
from central.schema import event_keys, events, metadata

PARTITION = re.compile(r"^events_(default|[0-9]{8})$")
OPENAPI = Path(__file__).resolve().parent.parent / "central" / "openapi.json"


def not_a_partition(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Partitions of `events` are made by the migration and at run time, not declared in the metadata."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (table and PARTITION.match(table))


def test_the_migrations_make_exactly_the_declared_schema(db_url: str) -> None:
    engine = connect(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True, "include_object": not_a_partition}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"partitions are PostgreSQL's; set ${PG_ENV} (scripts/test-postgres.sh) to test them")
    engine = connect(fresh_database("postgresql", tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(fresh_database("sqlite", tmp_path))
    yield engine
    engine.dispose()


def partitions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY c.relname"
            )
        )
        return list(rows.scalars())


def a_device(engine: Engine) -> Device:
    add_unit(engine, "HN")
    add_venue(engine, "V1", "HN")
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with engine.begin() as conn:
        return enroll(conn, new_enroll_code(engine, "V1"), base64.b64encode(raw).decode(), "gate", datetime.now(UTC))


def received_on(engine: Engine, device: Device, day: date, count: int = 3) -> list[str]:
    """`count` events uploaded by `device` and received by the server on `day`; their ids."""
    batch = [EventIn.model_validate(e) for e in make_events(count)]
    at = datetime.combine(day, time(12), UTC)
    with engine.begin() as conn:
        return ingest(conn, device, DeviceTime.model_validate(device_time()), batch, at)


def held(engine: Engine) -> tuple[set[str], set[str]]:
    """The ids in `events` and in `event_keys`."""
    with engine.connect() as conn:
        rows = set(conn.execute(select(events.c.event_id)).scalars())
        keys = set(conn.execute(select(event_keys.c.event_id)).scalars())
    return rows, keys


def test_events_is_partitioned_by_received_day_on_postgresql(pg_engine: Engine) -> None:
    with pg_engine.connect() as conn:
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'events'")).scalar()
        key = conn.execute(text("SELECT pg_get_partkeydef('events'::regclass)")).scalar()
    assert (kind, key) == ("p", "RANGE (received_day)")
    assert partitions(pg_engine) == ["events_default"]


def test_partitions_are_made_a_week_ahead_once(pg_engine: Engine) -> None:
    today = datetime.now(UTC).date()
    week = [partition_name(today + timedelta(days=n)) for n in range(8)]
    assert ensure_partitions(pg_engine, today) == week
    assert ensure_partitions(pg_engine, today) == []
    assert ensure_partitions(pg_engine, today + timedelta(days=1)) == [partition_name(today + timedelta(days=8))]
    assert partitions(pg_engine) == sorted(["events_default", *week, partition_name(today + timedelta(days=8))])
    ids = received_on(pg_engine, a_device(pg_engine), today)
    with pg_engine.connect() as conn:
        where = conn.execute(text("SELECT DISTINCT tableoid::regclass::text FROM events")).scalars().all()
    assert where == [partition_name(today)] and held(pg_engine) == (set(ids), set(ids))


def test_a_day_already_in_the_default_partition_gets_its_partition_all_the_same(pg_engine: Engine) -> None:
    """Events imported before the server ever ran are in events_default; the server must still start (it makes
    today's partition first thing) and they move to their partition."""
    today = datetime.now(UTC).date()
    device = a_device(pg_engine)
    ids = received_on(pg_engine, device, today) + received_on(pg_engine, device, today + timedelta(days=1))
    assert ensure_partitions(pg_engine, today)[:2] == [partition_name(today), partition_name(today + timedelta(1))]
    with pg_engine.connect() as conn:
        where = conn.execute(text("SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1")).all()
    assert where == [(partition_name(today), 3), (partition_name(today + timedelta(days=1)), 3)]
    assert held(pg_engine) == (set(ids), set(ids))


def test_purge_drops_old_partitions_and_their_event_ids_on_postgresql(pg_engine: Engine) -> None:
    first = datetime.now(UTC).date() - timedelta(days=10)
    ensure_partitions(pg_engine, first)  # first .. first + 7
    device = a_device(pg_engine)
    stray = received_on(pg_engine, device, first - timedelta(days=3))  # no partition: in events_default
    old = received_on(pg_engine, device, first) + received_on(pg_engine, device, first + timedelta(days=1))
    kept = [i for n in (2, 5) for i in received_on(pg_engine, device, first + timedelta(days=n))]
    assert held(pg_engine)[1] == set(stray + old + kept)
    assert purge_before(pg_engine, first + timedelta(days=2)) == 2
    left = [partition_name(first + timedelta(days=n)) for n in range(2, 8)]
    assert partitions(pg_engine) == sorted(["events_default", *left])
    assert held(pg_engine) == (set(kept), set(kept))
    assert purge_before(pg_engine, first + timedelta(days=2)) == 0


def test_purge_deletes_old_rows_and_their_event_ids_on_sqlite(sqlite_engine: Engine) -> None:
    today = datetime.now(UTC).date()
    device = a_device(sqlite_engine)
    old = received_on(sqlite_engine, device, today - timedelta(days=40), 4)
    kept = received_on(sqlite_engine, device, today - timedelta(days=29), 2) + received_on(sqlite_engine, device, today)
    assert ensure_partitions(sqlite_engine, today) == []
    assert purge_before(sqlite_engine, today - timedelta(days=30)) == len(old)
    assert held(sqlite_engine) == (set(kept), set(kept))
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == len(kept)


def test_the_committed_openapi_document_is_the_apis() -> None:
    committed = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert committed == document(), "regenerate it: kiosk-central openapi --output central/openapi.json"
