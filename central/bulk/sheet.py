"""Enrolment codes in bulk: one one-time code for each venue of a unit (and the units below it) that has no active
kiosk yet, made in one transaction, and the printable sheet that carries them to the technicians.

A code is made as `kiosk-central enroll-code` makes one (central/admin.py: the same alphabet and length, only its
hash stored, used once) but valid for a number of days, long enough for a district's round of installations. The
sheet's QR code holds `KIOSK-ENROL:<server>|<code>`, everything `kiosk enroll --sheet-text` needs; the code
itself never reaches the audit log, which records only how many were made for which unit.

Codes made by an earlier sheet stay valid until they expire or are used: a sheet printed twice is two sets of
codes, each enrolling one kiosk per venue.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Connection, select

from central.admin import CODE_ALPHABET, CODE_LENGTH, code_hash, unit_id
from central.audit import record
from central.errors import CentralError
from central.schema import devices, enroll_codes, units, venues
from central.unittree import UnitTree

SHEET_PREFIX = "KIOSK-ENROL:"  # kiosk/cli.py reads the same text (`kiosk enroll --sheet-text`)
MAX_DAYS = 90


@dataclass(frozen=True)
class SheetEntry:
    venue: str
    name: str
    unit: str
    address: str | None
    code: str
    text: str  # what the QR code holds


@dataclass(frozen=True)
class Sheet:
    unit: str
    unit_name: str
    server: str
    made_at: datetime
    expires_at: datetime
    entries: list[SheetEntry]


def sheet_text(server: str, code: str) -> str:
    """The text of a venue's QR code: the centre's address and the code, for `kiosk enroll --sheet-text`."""
    return f"{SHEET_PREFIX}{server}|{code}"


def checked_server(server: str) -> str:
    """The centre's address as kiosks reach it (http or https, a host, no spaces or '|'); CentralError if not."""
    server = server.strip().rstrip("/")
    parts = urlsplit(server)
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c in server for c in " |\t\n"):
        raise CentralError(f"--server {server!r}: not the centre's address as kiosks reach it (https://host[:port])")
    return server


def make_sheet(
    conn: Connection,
    unit: str,
    *,
    server: str,
    valid_days: int,
    now: datetime,
    actor: str,
    every_venue: bool = False,
) -> Sheet:
    """A code for each venue in `unit` and below it without an active kiosk (each venue with `every_venue`), retired
    venues aside, valid `valid_days` days; written in one statement and audited as `actor`."""
    if not 1 <= valid_days <= MAX_DAYS:
        raise CentralError(f"--valid-days {valid_days}: between 1 and {MAX_DAYS}")
    server = checked_server(server)
    root = unit_id(conn, unit)
    tree = UnitTree.load(conn)
    subtree = tree.subtree_ids(root)
    query = (
        select(venues.c.id, venues.c.code, venues.c.name, venues.c.address, units.c.name.label("unit_name"))
        .join(units, units.c.id == venues.c.unit_id)
        .where(venues.c.unit_id.in_(subtree), venues.c.retired_at.is_(None))  # a closed venue gets no kiosk
        .order_by(venues.c.code)
    )
    if not every_venue:
        active = select(devices.c.venue_id).where(devices.c.revoked_at.is_(None))
        query = query.where(venues.c.id.not_in(active))
    rows = conn.execute(query).all()
    expires_at = now + timedelta(days=valid_days)
    codes = [_new_code() for _ in rows]
    if rows:
        conn.execute(
            enroll_codes.insert().values(created_at=now, expires_at=expires_at),
            [{"code_hash": code_hash(code), "venue_id": row.id} for row, code in zip(rows, codes, strict=True)],
        )
    detail = {"codes": len(rows), "valid_days": valid_days, "every_venue": every_venue}
    record(conn, at=now, actor=actor, action="enroll-sheet", subject=unit, reason="enrolment sheet", detail=detail)
    entries = [
        SheetEntry(row.code, row.name, row.unit_name, row.address, code, sheet_text(server, code))
        for row, code in zip(rows, codes, strict=True)
    ]
    return Sheet(unit, tree.get(root).name, server, now, expires_at, entries)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
