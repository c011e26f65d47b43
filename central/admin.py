"""Administrative units (a tree of any depth), venues, enrolment codes and device revocation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from central.categories import CATEGORIES
from central.errors import Conflict, NotFound
from central.schema import devices, enroll_codes, units, venues

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


def make_enroll_code(conn: Connection, venue: str, now: datetime) -> str:
    """A one-time enrolment code for `venue`, valid for 24 hours; only its hash is stored."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    conn.execute(
        enroll_codes.insert().values(
            code_hash=code_hash(code), venue_id=venue_id(conn, venue), created_at=now, expires_at=now + CODE_TTL
        )
    )
    return code


def code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def revoke_device(conn: Connection, device_id: str, now: datetime) -> None:
    result = conn.execute(
        update(devices).where(devices.c.id == device_id, devices.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"no active device {device_id}")
