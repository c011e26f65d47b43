"""Administrative units (a tree of any depth), venues, enrolment codes and device revocation."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select, update

from central.categories import CATEGORIES
from central.errors import Conflict, NotFound
from central.schema import devices, enroll_codes, units, venues
from central.unittree import UnitTree

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over a phone without mistakes
CODE_LENGTH = 12
CODE_TTL = timedelta(hours=24)


def add_unit(conn: Connection, code: str, name: str, parent: str | None, now: datetime) -> int:
    parent_id = unit_id(conn, parent) if parent else None
    if conn.execute(select(units.c.id).where(units.c.code == code)).first():
        raise Conflict(f"unit {code} exists already")
    row = {"code": code, "name": name, "parent_id": parent_id, "created_at": now}
    return int(conn.execute(units.insert().values(row)).inserted_primary_key[0])  # type: ignore[index]


def add_venue(conn: Connection, code: str, name: str, unit: str, category: str, now: datetime) -> int:
    if category not in CATEGORIES:
        raise NotFound(f"no venue category {category!r}; one of: {', '.join(CATEGORIES)}")
    if conn.execute(select(venues.c.id).where(venues.c.code == code)).first():
        raise Conflict(f"venue {code} exists already")
    row = {"code": code, "name": name, "unit_id": unit_id(conn, unit), "category": category, "created_at": now}
    return int(conn.execute(venues.insert().values(row)).inserted_primary_key[0])  # type: ignore[index]


def unit_id(conn: Connection, code: str) -> int:
    row = conn.execute(select(units.c.id).where(units.c.code == code)).first()
    if row is None:
        raise NotFound(f"no unit {code}; add it first: kiosk-central unit add {code} NAME")
    return int(row[0])


def venue_id(conn: Connection, code: str) -> int:
    row = conn.execute(select(venues.c.id).where(venues.c.code == code)).first()
    if row is None:
        raise NotFound(f"no venue {code}; add it first: kiosk-central venue add {code} NAME --unit U --category C")
    return int(row[0])


@dataclass(frozen=True)
class Venue:
    id: int
    code: str
    name: str
    unit_id: int


def find_venue(conn: Connection, code: str) -> Venue:
    """The venue `code` (NotFound if there is none)."""
    query = select(venues.c.id, venues.c.code, venues.c.name, venues.c.unit_id).where(venues.c.code == code)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"no venue {code}")
    return Venue(row.id, row.code, row.name, row.unit_id)


def venue_unit_id(conn: Connection, venue: int) -> int:
    """The id of the unit the venue with id `venue` is in (NoResultFound if there is no such venue)."""
    return int(conn.execute(select(venues.c.unit_id).where(venues.c.id == venue)).scalar_one())


def venue_units(conn: Connection) -> list[tuple[str, int]]:
    """Every venue's code with the id of its unit."""
    return [(code, unit) for code, unit in conn.execute(select(venues.c.code, venues.c.unit_id))]


def make_enroll_code(conn: Connection, venue: str, now: datetime) -> str:
    """A one-time enrolment code for `venue`, valid for 24 hours; only its hash is stored. A retired venue gets
    none: its kiosks were revoked, and a new one would record passages for a place that is gone."""
    retired = conn.execute(select(venues.c.retired_at).where(venues.c.code == venue)).scalar()
    if retired is not None:
        raise Conflict(f"venue {venue} was retired on {retired:%Y-%m-%d}: no enrolment codes for it")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    conn.execute(
        enroll_codes.insert().values(
            code_hash=code_hash(code), venue_id=venue_id(conn, venue), created_at=now, expires_at=now + CODE_TTL
        )
    )
    return code


def code_hash(code: str) -> str:
    """The stored form of a code, as typed: spaces and dashes anywhere (the sheet prints it in groups of four) and
    the case do not matter; the alphabet has neither."""
    typed = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(typed.encode()).hexdigest()


def revoke_device(conn: Connection, device_id: str, now: datetime) -> None:
    result = conn.execute(
        update(devices).where(devices.c.id == device_id, devices.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"no active device {device_id}")


def list_units(conn: Connection, under: str | None = None) -> list[dict[str, Any]]:
    """Units depth first in code order (`under` and below, or all), each with its depth (the first 0) and the
    number of venues registered directly in it."""
    tree = UnitTree.load(conn)
    walked = tree.walk(unit_id(conn, under) if under else None)
    rows = conn.execute(select(venues.c.unit_id, func.count()).group_by(venues.c.unit_id))
    counts: dict[int, int] = {unit: count for unit, count in rows}
    top = min((depth for _, depth in walked), default=0)
    parents = {unit.id: tree.units[unit.parent_id].code for unit, _ in walked if unit.parent_id in tree.units}
    return [
        {"code": u.code, "name": u.name, "parent": parents.get(u.id), "depth": d - top, "venues": counts.get(u.id, 0)}
        for u, d in walked
    ]


def list_venues(conn: Connection, unit: str | None = None, category: str | None = None) -> list[dict[str, Any]]:
    """Venues in code order (in `unit` and the units below it, or all; of one `category`), each with its unit
    and the number of kiosks enrolled there and not revoked."""
    query = (
        select(venues.c.id, venues.c.code, venues.c.name, venues.c.category, units.c.code.label("unit"))
        .join(units, units.c.id == venues.c.unit_id)
        .order_by(venues.c.code)
    )
    if unit is not None:
        query = query.where(venues.c.unit_id.in_(UnitTree.load(conn).subtree_ids(unit_id(conn, unit))))
    if category is not None:
        query = query.where(venues.c.category == category)
    active = select(devices.c.venue_id, func.count()).where(devices.c.revoked_at.is_(None))
    kiosks: dict[int, int] = dict(conn.execute(active.group_by(devices.c.venue_id)).tuples().all())
    return [
        {"code": r.code, "name": r.name, "unit": r.unit, "category": r.category, "kiosks": kiosks.get(r.id, 0)}
        for r in conn.execute(query)
    ]
