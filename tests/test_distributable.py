"""The schema stays distributable by venue on Citus (docs/scale.md, central/distribution.py).

Every table on the schema's metadata is placed: distributed by venue_id, a reference table, or local to the
coordinator. A distributed table's primary key, unique constraints and unique indexes include venue_id; its
foreign keys go to reference tables, or to distributed tables through venue_id. A reference table refers only to
reference tables, and a local one to no distributed table. No Citus is needed: these checks read the SQLAlchemy
metadata only.

Migration 0016 closed the last two gaps (`events` and `event_keys` keyed without the venue): its round trip, on
SQLite and on PostgreSQL's partitioned `events`, keeps every event and every claim, and gives each claim its
event's venue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import downgrade, upgrade
from alembic.config import Config
from alembic.migration import MigrationContext
from central_fixtures import PG_ENV, add_unit, add_venue, database_urls, reset_postgres
from sqlalchemy import (
    Column,
    Date,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

import central.diagnostics.tables
import central.releases.tables
import central.trustsources.tables
import central.webhooks.tables  # noqa: F401 (the modules declare their tables on the schema's metadata)
from central.db import MIGRATIONS
from central.distribution import DISTRIBUTED, DISTRIBUTION_COLUMN, LOCAL, REFERENCE, placement
from central.partitions import ensure_partitions
from central.schema import event_keys, events, metadata, venues


def _table(name: str) -> Table:
    return metadata.tables[name]


def _unique_keys(table: Table) -> dict[str, set[str]]:
    """The primary key, unique constraints and unique indexes of `table`: name -> columns."""
    keys = {f"primary key of {table.name}": {c.name for c in table.primary_key.columns}}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            keys[f"unique constraint {constraint.name or sorted(constraint.columns.keys())}"] = {
                c.name for c in constraint.columns
            }
    for index in table.indexes:
        if index.unique:
            keys[f"unique index {index.name}"] = {c.name for c in index.columns}
    return keys


def _foreign_keys(table: Table) -> list[ForeignKeyConstraint]:
    return sorted((c for c in table.constraints if isinstance(c, ForeignKeyConstraint)), key=lambda c: str(c.name))


def test_every_table_is_placed_once() -> None:
    placed = [*DISTRIBUTED, *REFERENCE, *LOCAL]
    assert len(placed) == len(set(placed)), "a table is placed twice"
    assert sorted(metadata.tables) == sorted(placed), "place each new table in central/distribution.py"
    assert placement("events") == "distributed"
    assert placement("venues") == "reference"
    assert placement("devices") == "local"


def _key_problems(table: Table) -> list[str]:
    """What keeps `table` from being distributed by venue_id: a missing column, or a key without it."""
    if DISTRIBUTION_COLUMN not in table.c:
        return [f"{table.name} has no {DISTRIBUTION_COLUMN} column"]
    problems = [f"{table.name}.{DISTRIBUTION_COLUMN} may be NULL"] if table.c[DISTRIBUTION_COLUMN].nullable else []
    for key, columns in _unique_keys(table).items():
        if DISTRIBUTION_COLUMN not in columns:
            problems.append(f"{key} {sorted(columns)} lacks {DISTRIBUTION_COLUMN}")
    return problems


def _foreign_key_problems(table: Table, place: Callable[[str], str]) -> list[str]:
    """Foreign keys of the distributed `table` that Citus refuses: to a local table, or to a distributed one
    other than through venue_id."""
    problems = []
    for fk in _foreign_keys(table):
        target = fk.referred_table.name
        pairs = {(element.parent.name, element.column.name) for element in fk.elements}
        if place(target) == "local":
            problems.append(f"{table.name} refers to the local table {target}")
        elif place(target) == "distributed" and (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) not in pairs:
            problems.append(f"{table.name} refers to the distributed {target} without {DISTRIBUTION_COLUMN}")
    return sorted(problems)


@pytest.mark.parametrize("name", sorted(DISTRIBUTED))
def test_distributed_keys_include_venue(name: str) -> None:
    assert _key_problems(_table(name)) == []


@pytest.mark.parametrize("name", sorted(DISTRIBUTED))
def test_distributed_foreign_keys(name: str) -> None:
    assert _foreign_key_problems(_table(name), placement) == []


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_reference_tables_refer_to_reference_tables(name: str) -> None:
    for fk in _foreign_keys(_table(name)):
        assert placement(fk.referred_table.name) == "reference", f"{name} refers to {fk.referred_table.name}"


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_local_tables_refer_to_no_distributed_table(name: str) -> None:
    for fk in _foreign_keys(_table(name)):
        assert placement(fk.referred_table.name) != "distributed", f"{name} refers to {fk.referred_table.name}"


def test_the_checks_catch_bad_keys() -> None:
    """The checks themselves, on tables made here: a unique index and a foreign key past venue_id are found."""
    scratch = MetaData()
    Table("place", scratch, Column("id", Integer, primary_key=True))
    Table(
        "stay",
        scratch,
        Column("venue_id", Integer, nullable=False),
        Column("id", Integer, nullable=False),
        Column("ticket", String(8)),
        PrimaryKeyConstraint("venue_id", "id"),
        Index("stay_ticket", "ticket", unique=True),
    )
    bad = Table(
        "bad",
        scratch,
        Column("venue_id", Integer, nullable=False),
        Column("stay_id", Integer, nullable=False),
        Column("place_id", Integer, ForeignKey("place.id")),
        PrimaryKeyConstraint("venue_id", "stay_id"),
        ForeignKeyConstraint(["stay_id"], ["stay.id"]),
    )
    kinds = {"place": "local", "stay": "distributed", "bad": "distributed"}
    assert _key_problems(scratch.tables["stay"]) == ["unique index stay_ticket ['ticket'] lacks venue_id"]
    assert _key_problems(bad) == []
    assert _foreign_key_problems(bad, kinds.__getitem__) == [
        "bad refers to the distributed stay without venue_id",
        "bad refers to the local table place",
    ]
    # The two keys migration 0016 replaced, as the checks saw them.
    old_events = Table(
        "old_events",
        scratch,
        Column("event_id", String(36), nullable=False),
        Column("received_day", Date, nullable=False),
        Column("venue_id", Integer, nullable=False),
        PrimaryKeyConstraint("event_id", "received_day"),
    )
    old_keys = Table("old_keys", scratch, Column("event_id", String(36), primary_key=True))
    assert _key_problems(old_events) == ["primary key of old_events ['event_id', 'received_day'] lacks venue_id"]
    assert _key_problems(old_keys) == ["old_keys has no venue_id column"]


# Migration 0016, on a database left at 0015 with events and claims in it.

DAY = date(2026, 3, 2)
STRAY_DAY = date(2026, 1, 5)  # no partition: on PostgreSQL, its event is in events_default
PARTITION = re.compile(r"^events_(default|[0-9]{8})$")


@pytest.fixture(params=database_urls())
def at_0015(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database migrated to 0015 only, with two venues, four events and their claims, and one claim whose
    event is gone (ingest never leaves one; a hand-made import might)."""
    url = f"sqlite:///{tmp_path / 'central.db'}" if request.param == "sqlite" else reset_postgres(os.environ[PG_ENV])
    engine = create_engine(url, poolclass=NullPool)
    _alembic(engine, upgrade, "0015")
    add_unit(engine)
    add_venue(engine, "V1")
    add_venue(engine, "V2")
    ensure_partitions(engine, DAY, ahead=1)
    venue = _venue_ids(engine)
    made = [("e1", "V1", DAY), ("e2", "V2", DAY), ("e3", "V1", DAY + timedelta(days=1)), ("e4", "V2", STRAY_DAY)]
    with engine.begin() as conn:
        conn.execute(events.insert(), [_event(event_id, venue[code], day) for event_id, code, day in made])
        claims = [*((event_id, day) for event_id, _, day in made), ("orphan", DAY)]
        conn.execute(text("INSERT INTO event_keys (event_id, received_day) VALUES (:i, :d)"), _claims(claims))
    yield engine
    engine.dispose()


def not_a_partition(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Partitions of `events` are made by migrations and at run time, not declared in the metadata."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (table and PARTITION.match(table))


def _alembic(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        step(config, revision)


def _venue_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {code: vid for vid, code in conn.execute(select(venues.c.id, venues.c.code))}


def _claims(rows: list[tuple[str, date]]) -> list[dict[str, object]]:
    return [{"i": event_id, "d": day} for event_id, day in rows]


def _event(event_id: str, venue_id: int, day: date) -> dict[str, object]:
    at = datetime.combine(day, time(9), UTC)
    return {
        "event_id": event_id, "received_day": day, "device_id": "d1", "venue_id": venue_id, "boot_id": "b1",
        "seq": 1, "wall_time": at.timestamp(), "mono_time": 1.0, "time": at, "time_synced": True,
        "received_at": at, "direction": "in", "kind": "cccd", "subject_key": None, "decision": "ACCEPT",
        "reason": "logged", "decoder": "zxing", "latency_ms": 4.0,
    }  # fmt: skip


def _keys(engine: Engine) -> tuple[list[str], list[str]]:
    """The primary key columns of `events` and of `event_keys`, in their order."""
    with engine.connect() as conn:
        found = inspect(conn)
        return (
            found.get_pk_constraint("events")["constrained_columns"],
            found.get_pk_constraint("event_keys")["constrained_columns"],
        )


def _rows(engine: Engine, query: str) -> set[tuple[object, ...]]:
    """The rows `query` reads, days as ISO text (SQLite gives text for a column `text()` does not type)."""
    with engine.connect() as conn:
        return {tuple(_iso(value) for value in row) for row in conn.execute(text(query))}


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(inspect(conn).get_table_names())


def _partition_keys(engine: Engine) -> set[str]:
    """The primary key of every partition of `events`, as PostgreSQL gives its definition."""
    query = (
        "SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid "
        "WHERE i.inhparent = 'events'::regclass AND k.contype = 'p'"
    )
    return {str(row[0]) for row in _rows(engine, query)}


def test_0016_keys_events_and_claims_by_venue_and_back(at_0015: Engine) -> None:
    engine = at_0015
    venue = _venue_ids(engine)
    v1, v2 = venue["V1"], venue["V2"]
    stored = _rows(engine, "SELECT event_id, venue_id, received_day FROM events")
    assert _keys(engine) == (["event_id", "received_day"], ["event_id"])

    _alembic(engine, upgrade, "head")
    assert _keys(engine) == (["event_id", "venue_id", "received_day"], ["event_id", "venue_id"])
    day, next_day, stray_day = DAY.isoformat(), (DAY + timedelta(days=1)).isoformat(), STRAY_DAY.isoformat()
    claims = {("e1", v1, day), ("e2", v2, day), ("e3", v1, next_day), ("e4", v2, stray_day)}
    assert _rows(engine, "SELECT event_id, venue_id, received_day FROM event_keys") == {*claims, ("orphan", 0, day)}
    assert _rows(engine, "SELECT event_id, venue_id, received_day FROM events") == stored == claims
    if engine.dialect.name == "postgresql":  # the two days' partitions and the default one
        assert _partition_keys(engine) == {"PRIMARY KEY (event_id, venue_id, received_day)"}
        assert len(_rows(engine, "SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass")) == 3
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": not_a_partition})
        assert compare_metadata(context, metadata) == []

    _alembic(engine, downgrade, "0015")
    assert _keys(engine) == (["event_id", "received_day"], ["event_id"])
    kept = {(event_id, day) for event_id, _, day in claims}
    assert _rows(engine, "SELECT event_id, received_day FROM event_keys") == {*kept, ("orphan", day)}
    assert _rows(engine, "SELECT event_id, venue_id, received_day FROM events") == stored
    if engine.dialect.name == "postgresql":
        assert _partition_keys(engine) == {"PRIMARY KEY (event_id, received_day)"}

    _alembic(engine, upgrade, "head")  # and up again, the same
    assert _rows(engine, "SELECT event_id, venue_id, received_day FROM event_keys") == {*claims, ("orphan", 0, day)}


def test_0016_does_not_go_down_over_an_id_two_venues_hold(at_0015: Engine) -> None:
    """The old key cannot hold one event id at two venues: going down fails and changes nothing."""
    engine = at_0015
    _alembic(engine, upgrade, "0016")
    v2 = _venue_ids(engine)["V2"]
    with engine.begin() as conn:
        conn.execute(events.insert(), [_event("e1", v2, DAY)])  # as a hand-made import could
        conn.execute(event_keys.insert(), [{"event_id": "e1", "venue_id": v2, "received_day": DAY}])
    before = (_rows(engine, "SELECT * FROM events"), _rows(engine, "SELECT * FROM event_keys"), _tables(engine))
    with pytest.raises(IntegrityError):
        _alembic(engine, downgrade, "0015")
    assert _keys(engine) == (["event_id", "venue_id", "received_day"], ["event_id", "venue_id"])
    after = (_rows(engine, "SELECT * FROM events"), _rows(engine, "SELECT * FROM event_keys"), _tables(engine))
    assert after == before  # no half-made table left either
    assert _rows(engine, "SELECT version_num FROM alembic_version") == {("0016",)}


def test_0017_rolls_back_with_0016(at_0015: Engine) -> None:
    engine = at_0015
    _alembic(engine, upgrade, "head")
    v2 = _venue_ids(engine)["V2"]
    with engine.begin() as conn:
        conn.execute(events.insert(), [_event("e1", v2, DAY)])
        conn.execute(event_keys.insert(), [{"event_id": "e1", "venue_id": v2, "received_day": DAY}])
    with pytest.raises(IntegrityError):
        _alembic(engine, downgrade, "0015")
    assert _rows(engine, "SELECT version_num FROM alembic_version") == {("0017",)}
    with engine.connect() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("events")}
    assert "events_venue_presence" in names, names
