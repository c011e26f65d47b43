"""A venue's groups from groups.csv (docs/access-list.md): checked row by row, written all or nothing, replaced by
name when imported again (their ids stay, so the people in them stay in them), and listed with their numbers.

    name,windows,valid_from,valid_until,gates
    staff,"Mon-Fri 06:30-18:30; Sat 07:00-12:00",2026-01-01,2026-12-31,
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from central.admin import venue_id
from central.audit import record
from central.people.csvfile import Problems, Row, read_table
from central.people.versions import bump_version
from central.people.windows import Window, WindowError, format_windows, parse_windows, windows_from_json
from central.schema import access_groups, access_members, devices

COLUMNS = ("name", "windows", "valid_from", "valid_until", "gates")
REQUIRED = ("name", "windows")
GROUP_NAME = re.compile(r"[^\s,;\"]{1,64}")  # people.csv separates group names by spaces
GATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # a device id
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class GroupSpec:
    name: str
    windows: tuple[Window, ...]
    valid_from: date | None
    valid_until: date | None
    gates: tuple[str, ...] | None  # None: every gate of the venue


@dataclass(frozen=True)
class GroupsImported:
    """What an import did; `unknown_gates` are gates named that are no kiosk of the venue now (said, not refused:
    the kiosk may be enrolled later)."""

    venue: str
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    unknown_gates: tuple[str, ...]
    version: int


def import_groups(
    conn: Connection, venue: str, data: bytes, *, actor: str, now: datetime, source: str = "groups.csv"
) -> GroupsImported:
    """Add the groups of the CSV file `data` to `venue`, replacing those of the same names; ImportRefused (nothing
    written) if any row is wrong. Audited as `actor`."""
    venue_number = venue_id(conn, venue)
    specs = group_specs(read_table(data, source, known=COLUMNS, required=REQUIRED).rows, source)
    version = bump_version(conn, venue_number, now)
    names = select(access_groups.c.name, access_groups.c.id).where(access_groups.c.venue_id == venue_number)
    held = dict(conn.execute(names).all())
    added = [spec for spec in specs if spec.name not in held]
    first_id = max(held.values(), default=0) + 1
    if added:
        rows = [
            _values(spec, now) | {"venue_id": venue_number, "id": first_id + n, "name": spec.name}
            for n, spec in enumerate(added)
        ]
        conn.execute(access_groups.insert(), rows)
    replaced = [spec for spec in specs if spec.name in held]
    if replaced:
        statement = update(access_groups).where(
            access_groups.c.venue_id == venue_number, access_groups.c.name == bindparam("group_name")
        )
        conn.execute(statement, [_values(spec, now) | {"group_name": spec.name} for spec in replaced])
    unknown = _unknown_gates(conn, venue_number, specs)
    detail = {"added": len(added), "replaced": len(replaced), "version": version}
    record(
        conn,
        at=now,
        actor=actor,
        action="access-groups-import",
        subject=venue,
        reason=f"import {source}",
        detail=detail,
    )
    return GroupsImported(venue, tuple(s.name for s in added), tuple(s.name for s in replaced), unknown, version)


def group_specs(rows: list[Row], source: str) -> list[GroupSpec]:
    """The groups of the rows; ImportRefused listing every problem."""
    problems = Problems(source)
    specs: list[GroupSpec] = []
    lines: dict[str, int] = {}
    for row in rows:
        spec = _spec(row, problems)
        if spec is None:
            continue
        if spec.name in lines:
            problems.add(row.line, "name", f"{spec.name} is on line {lines[spec.name]} already")
            continue
        lines[spec.name] = row.line
        specs.append(spec)
    problems.check()
    return specs


def _spec(row: Row, problems: Problems) -> GroupSpec | None:
    before = len(problems.found)
    name = row["name"]
    if not name:
        problems.add(row.line, "name", "empty: every group has a name")
    elif not GROUP_NAME.fullmatch(name):
        problems.add(row.line, "name", f"{name[:40]!r}: at most 64 characters, without spaces, commas or ';'")
    try:
        windows = tuple(parse_windows(row["windows"]))
    except WindowError as exc:
        problems.add(row.line, "windows", str(exc))
    valid_from, valid_until = _date(row, "valid_from", problems), _date(row, "valid_until", problems)
    if valid_from and valid_until and valid_until < valid_from:
        problems.add(row.line, "valid_until", f"before valid_from ({valid_from.isoformat()})")
    gates = row["gates"].split()
    for gate in gates:
        if not GATE.fullmatch(gate):
            problems.add(row.line, "gates", f"{gate[:40]!r} is not a device id (gates are separated by spaces)")
    if len(problems.found) > before:
        return None
    return GroupSpec(name, windows, valid_from, valid_until, tuple(dict.fromkeys(gates)) or None)


def _date(row: Row, column: str, problems: Problems) -> date | None:
    text = row[column]
    if not text:
        return None
    try:
        if DATE.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    problems.add(row.line, column, f"{text[:20]!r} is not a date YYYY-MM-DD")
    return None


def _values(spec: GroupSpec, now: datetime) -> dict[str, Any]:
    """What an import sets in a group's row, by column (the name is the row's key)."""
    return {
        "windows": [window.as_json() for window in spec.windows],
        "valid_from": spec.valid_from,
        "valid_until": spec.valid_until,
        "gates": list(spec.gates) if spec.gates else None,
        "updated_at": now,
    }


def _unknown_gates(conn: Connection, venue_number: int, specs: list[GroupSpec]) -> tuple[str, ...]:
    named = {gate for spec in specs for gate in spec.gates or ()}
    if not named:
        return ()
    kiosks = select(devices.c.id).where(devices.c.venue_id == venue_number, devices.c.revoked_at.is_(None))
    return tuple(sorted(named - set(conn.execute(kiosks).scalars())))


def list_groups(conn: Connection, venue: str) -> list[dict[str, Any]]:
    """The venue's groups by id: id, name, windows (as groups.csv writes them), validity, gates, people in it."""
    venue_number = venue_id(conn, venue)
    per_group = (
        select(access_members.c.group_id, func.count())
        .where(access_members.c.venue_id == venue_number)
        .group_by(access_members.c.group_id)
    )
    counts: dict[int, int] = {group: count for group, count in conn.execute(per_group)}
    query = select(access_groups).where(access_groups.c.venue_id == venue_number).order_by(access_groups.c.id)
    return [
        {
            "id": row.id,
            "name": row.name,
            "windows": format_windows(windows_from_json(row.windows)),
            "valid_from": row.valid_from.isoformat() if row.valid_from else None,
            "valid_until": row.valid_until.isoformat() if row.valid_until else None,
            "gates": row.gates,
            "people": int(counts.get(row.id, 0)),
        }
        for row in conn.execute(query)
    ]
