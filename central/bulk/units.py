"""units.csv: the tree of administrative units, one unit a row, each naming the unit above it.

    code,name,parent
    67,Tỉnh Đắk Nông,
    660,Thành phố Gia Nghĩa,67
    24611,Phường Nghĩa Thành,660

Codes are the statistics office's (province 2 digits, district 3, commune 5), but any code and any depth work:
`parent` names the unit above, in the file or already held, and rows may come in any order. The file is checked
whole (unknown parent, loops, a code twice, names too long, hidden characters) and written all or nothing, in one
statement per level of the tree, so that a province's thousands of units take a fraction of a second.

Re-running is safe: a unit held already takes the file's name and parent (a district renamed or moved; a file
without the `parent` column leaves parents as they are), one that is the same is not touched, and a unit the file
leaves out stays as it is (nothing is ever deleted by omission: removing a unit with venues and officers is a
decision, not a side effect of a shorter file). An import that changes something is audited as `units-import`;
one that changes nothing writes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from central.audit import record
from central.bulk.cells import MAX_NAME, ZEROS_HINT, clean_cells, code, text
from central.people.csvfile import Problems, Row, read_table
from central.schema import units

COLUMNS = ("code", "name", "parent")


@dataclass(frozen=True)
class UnitRow:
    line: int
    code: str
    name: str
    parent: str | None


@dataclass(frozen=True)
class UnitsImported:
    """What an import did: units added, units renamed or moved (`updated`), and rows that matched already."""

    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class _Held:
    id: int
    name: str
    parent_id: int | None


def import_units(
    conn: Connection, data: bytes, *, actor: str, now: datetime, source: str = "units.csv"
) -> UnitsImported:
    """Add the units of the CSV file `data` and update those held already; ImportRefused (nothing written) if any
    row is wrong. Audited as `actor` when something changed."""
    table = read_table(data, source, known=COLUMNS, required=("code", "name"))
    held = {row.code: _Held(row.id, row.name, row.parent_id) for row in conn.execute(select(units))}
    rows = read_units(table.rows, source, held)
    code_of = {unit.id: unit_code for unit_code, unit in held.items()}
    if "parent" not in table.columns:  # a file of names only: units held stay where they are
        rows = [
            replace(row, parent=code_of.get(held[row.code].parent_id or -1)) if row.code in held else row
            for row in rows
        ]
    ids = {unit_code: unit.id for unit_code, unit in held.items()}
    added = _insert(conn, [row for row in rows if row.code not in held], ids, now)
    changed = [
        {"unit": held[row.code].id, "new_name": row.name, "new_parent": ids[row.parent] if row.parent else None}
        for row in rows
        if row.code in held
        and (row.name != held[row.code].name or row.parent != code_of.get(held[row.code].parent_id or -1))
    ]
    if changed:
        statement = update(units).where(units.c.id == bindparam("unit"))
        conn.execute(statement.values(name=bindparam("new_name"), parent_id=bindparam("new_parent")), changed)
    result = UnitsImported(added, len(changed), len(rows) - added - len(changed))
    if added or changed:
        detail = {"added": result.added, "updated": result.updated, "unchanged": result.unchanged}
        record(conn, at=now, actor=actor, action="units-import", subject=None, reason=f"import {source}", detail=detail)
    return result


def read_units(rows: list[Row], source: str, held: dict[str, _Held]) -> list[UnitRow]:
    """The units of the rows; ImportRefused listing every problem (a loop once for each unit on it)."""
    problems = Problems(source)
    found: list[UnitRow] = []
    lines: dict[str, int] = {}
    for row in rows:
        unit = _unit(row, problems)
        if unit is None:
            continue
        if unit.code in lines:
            problems.add(row.line, "code", f"unit {unit.code} is on line {lines[unit.code]} already")
            continue
        lines[unit.code] = row.line
        found.append(unit)
    named = {row["code"] for row in rows}  # a parent whose own row is wrong is not unknown as well
    for unit in found:
        if unit.parent == unit.code:
            problems.add(unit.line, "parent", "a unit cannot be its own parent")
        elif unit.parent is not None and unit.parent not in named and unit.parent not in held:
            problems.add(unit.line, "parent", f"no unit {unit.parent} in the file or held already {ZEROS_HINT}")
    problems.check()
    _check_loops(found, held, problems)
    problems.check()
    return found


def _unit(row: Row, problems: Problems) -> UnitRow | None:
    before = len(problems.found)
    clean_cells(row, problems)
    unit_code = code(row, "code", problems)
    name = text(row, "name", problems, limit=MAX_NAME, required=True)
    parent = code(row, "parent", problems, required=False)
    if unit_code is None or name is None or len(problems.found) > before:
        return None
    return UnitRow(row.line, unit_code, name, parent)


def _check_loops(found: list[UnitRow], held: dict[str, _Held], problems: Problems) -> None:
    """A problem for each unit of the file whose parent chain, in the tree as it would be, comes back to it."""
    code_of = {unit.id: unit_code for unit_code, unit in held.items()}
    parent_of = {unit_code: code_of.get(unit.parent_id or -1) for unit_code, unit in held.items()}
    parent_of.update({unit.code: unit.parent for unit in found})
    for unit in found:
        chain = [unit.code]
        current = unit.parent
        while current is not None and current not in chain and len(chain) <= len(parent_of):
            chain.append(current)
            current = parent_of.get(current)
        if current == unit.code:
            shown = " → ".join([*chain[:8], *(["…"] if len(chain) > 8 else []), unit.code])
            problems.add(unit.line, "parent", f"the units' parents go round in a loop: {shown}")


def _insert(conn: Connection, new: list[UnitRow], ids: dict[str, int], now: datetime) -> int:
    """Insert the new units a level at a time (a unit after its parent), one statement a level; `ids` learns
    their ids. How many were inserted."""
    waiting = new
    while waiting:
        ready = [row for row in waiting if row.parent is None or row.parent in ids]
        waiting = [row for row in waiting if not (row.parent is None or row.parent in ids)]
        if not ready:  # cannot happen after _check_loops: every chain ends at a held unit or the top
            raise AssertionError("units waiting on each other")
        values = [
            {
                "code": row.code,
                "name": row.name,
                "parent_id": ids[row.parent] if row.parent else None,
                "created_at": now,
            }
            for row in ready
        ]
        inserted = conn.execute(units.insert().returning(units.c.id, units.c.code), values)
        ids.update({unit_code: unit_id for unit_id, unit_code in inserted})
    return len(new)
