"""venues.csv: the venues with gates, one a row, each in a unit held already (units.csv goes first).

    code,name,unit,category,address
    DN-GN-001,Bệnh viện đa khoa tỉnh Đắk Nông,24611,hospital,"Đường Tôn Đức Thắng, Nghĩa Thành"

`category` is one of central/categories.py's codes (2278/BTTTT's list of places); `address`, optional, is where
the venue is, printed on the enrolment sheet for the technician: a place's address, never a person's. The file is
checked whole and written all or nothing, in one statement for the new venues and one for the changed ones.

Re-running is safe: a venue held already takes the file's name, unit, category (and address, when the file has
the column: an empty cell clears it, a file without the column leaves addresses as they are); one that is the
same is not touched; one the file leaves out stays as it is, with its kiosks (nothing is deleted by omission).
An import that changes something is audited as `venues-import`; one that changes nothing writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update

from central.audit import record
from central.bulk.cells import MAX_ADDRESS, MAX_NAME, ZEROS_HINT, clean_cells, code, text
from central.categories import CATEGORIES
from central.people.csvfile import Problems, Row, read_table
from central.schema import units, venues

COLUMNS = ("code", "name", "unit", "category", "address")


@dataclass(frozen=True)
class VenueRow:
    line: int
    code: str
    name: str
    unit_id: int
    category: str
    address: str | None


@dataclass(frozen=True)
class VenuesImported:
    """What an import did: venues added, venues changed (`updated`), and rows that matched already."""

    added: int
    updated: int
    unchanged: int


def import_venues(
    conn: Connection, data: bytes, *, actor: str, now: datetime, source: str = "venues.csv"
) -> VenuesImported:
    """Add the venues of the CSV file `data` and update those held already; ImportRefused (nothing written) if
    any row is wrong. Audited as `actor` when something changed."""
    table = read_table(data, source, known=COLUMNS, required=("code", "name", "unit", "category"))
    unit_ids = {unit_code: unit_id for unit_code, unit_id in conn.execute(select(units.c.code, units.c.id))}
    rows = read_venues(table.rows, source, unit_ids)
    addresses = "address" in table.columns
    held = {
        row.code: row
        for row in conn.execute(
            select(venues.c.id, venues.c.code, venues.c.name, venues.c.unit_id, venues.c.category, venues.c.address)
        )
    }
    new = [
        {"code": r.code, "name": r.name, "unit_id": r.unit_id, "category": r.category, "address": r.address}
        for r in rows
        if r.code not in held
    ]
    if new:
        conn.execute(venues.insert().values(created_at=now), new)
    changed = []
    for r in rows:
        old = held.get(r.code)
        if old is None:
            continue
        address = r.address if addresses else old.address
        if (r.name, r.unit_id, r.category, address) != (old.name, old.unit_id, old.category, old.address):
            values = {"v_name": r.name, "v_unit": r.unit_id, "v_category": r.category, "v_address": address}
            changed.append({"venue": old.id, **values})
    if changed:
        columns = {"name": "v_name", "unit_id": "v_unit", "category": "v_category", "address": "v_address"}
        statement = update(venues).where(venues.c.id == bindparam("venue"))
        conn.execute(statement.values({column: bindparam(key) for column, key in columns.items()}), changed)
    result = VenuesImported(len(new), len(changed), len(rows) - len(new) - len(changed))
    if new or changed:
        detail = {"added": result.added, "updated": result.updated, "unchanged": result.unchanged}
        record(
            conn, at=now, actor=actor, action="venues-import", subject=None, reason=f"import {source}", detail=detail
        )
    return result


def read_venues(rows: list[Row], source: str, unit_ids: dict[str, int]) -> list[VenueRow]:
    """The venues of the rows, with their units' ids; ImportRefused listing every problem."""
    problems = Problems(source)
    found: list[VenueRow] = []
    lines: dict[str, int] = {}
    for row in rows:
        venue = _venue(row, problems, unit_ids)
        if venue is None:
            continue
        if venue.code in lines:
            problems.add(row.line, "code", f"venue {venue.code} is on line {lines[venue.code]} already")
            continue
        lines[venue.code] = row.line
        found.append(venue)
    problems.check()
    return found


def _venue(row: Row, problems: Problems, unit_ids: dict[str, int]) -> VenueRow | None:
    before = len(problems.found)
    clean_cells(row, problems)
    venue_code = code(row, "code", problems)
    name = text(row, "name", problems, limit=MAX_NAME, required=True)
    unit = code(row, "unit", problems)
    if unit is not None and unit not in unit_ids:
        problems.add(row.line, "unit", f"no unit {unit}: import units.csv first {ZEROS_HINT}")
    category = row["category"].lower()
    if not category:
        problems.add(row.line, "category", f"empty: one of {', '.join(CATEGORIES)}")
    elif category not in CATEGORIES:
        problems.add(row.line, "category", f"no category {category[:40]!r}: one of {', '.join(CATEGORIES)}")
    address = text(row, "address", problems, limit=MAX_ADDRESS, required=False)
    if venue_code is None or name is None or unit is None or len(problems.found) > before:
        return None
    return VenueRow(row.line, venue_code, name, unit_ids[unit], category, address)
