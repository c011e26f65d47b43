"""The schema stays distributable by venue on Citus (docs/scale.md, central/distribution.py).

Every table on the schema's metadata is placed: distributed by venue_id, a reference table, or local to the
coordinator. A distributed table's primary key, unique constraints and unique indexes include venue_id; its
foreign keys go to reference tables, or to distributed tables through venue_id. A reference table refers only to
reference tables, and a local one to no distributed table. The keys that break a rule today are known gaps,
each with the migration that would fix it: they are expected to fail, strictly, so that fixing one is noticed.
No Citus is needed: this reads the SQLAlchemy metadata only.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import (
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

import central.diagnostics.tables
import central.releases.tables
import central.trustsources.tables
import central.webhooks.tables  # noqa: F401 (the modules declare their tables on the schema's metadata)
from central.distribution import DISTRIBUTED, DISTRIBUTION_COLUMN, KNOWN_GAPS, LOCAL, REFERENCE, placement
from central.schema import metadata


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


def _distributed(names: dict[str, str]) -> list[object]:
    """The distributed tables, a known gap marked as an expected failure with its reason."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[name]))
        if name in KNOWN_GAPS
        else name
        for name in sorted(names)
    ]


def test_every_table_is_placed_once() -> None:
    placed = [*DISTRIBUTED, *REFERENCE, *LOCAL]
    assert len(placed) == len(set(placed)), "a table is placed twice"
    assert sorted(metadata.tables) == sorted(placed), "place each new table in central/distribution.py"
    assert set(KNOWN_GAPS) <= set(DISTRIBUTED)
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


@pytest.mark.parametrize("name", _distributed(DISTRIBUTED))
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
    assert _key_problems(_table("events")) == [
        "primary key of events ['event_id', 'received_day'] lacks venue_id"
    ]  # the known gap, as the checks see it
