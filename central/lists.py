"""The lists the centre keeps and every kiosk follows: status list, trust list, and the config document."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from central.errors import CentralError
from central.schema import status_entries, trust_entries, venues
from central.timeutil import aware
from kiosk.credentials.trust import TrustListError, TrustStore

SECTIONS = ("certificates", "shc_issuers", "csca", "pass_keys")


def set_status(conn: Connection, subject_key: str, status: str, until: datetime | None, now: datetime) -> None:
    if status not in ("red", "yellow") or len(subject_key) != 32:
        raise CentralError("a status entry needs a 32-hex subject key and status red or yellow")
    conn.execute(delete(status_entries).where(status_entries.c.subject_key == subject_key))
    conn.execute(status_entries.insert().values(subject_key=subject_key, status=status, until=until, updated_at=now))


def clear_status(conn: Connection, subject_key: str) -> bool:
    return conn.execute(delete(status_entries).where(status_entries.c.subject_key == subject_key)).rowcount > 0


def status_list(conn: Connection, now: datetime) -> dict[str, Any]:
    rows = conn.execute(select(status_entries).order_by(status_entries.c.subject_key)).all()
    entries = []
    for row in rows:
        until = aware(row.until)
        if until is not None and until < now:
            continue
        entry = {"subject_key": row.subject_key, "status": row.status}
        if until is not None:
            entry["until"] = until.isoformat()
        entries.append(entry)
    return {"issued_at": now.isoformat(), "entries": entries}


def import_trust(conn: Connection, data: Any, now: datetime) -> int:
    """Add the entries of a trust-list document (docs/trust-list.md) not held yet; returns how many were added.
    Each is checked the way kiosks read it first, so a list no kiosk could load is refused whole."""
    try:
        TrustStore.from_json(data)
    except TrustListError as exc:
        raise CentralError(f"trust list refused: {exc}") from None
    held = {(row.section, json.dumps(row.entry, sort_keys=True)) for row in conn.execute(select(trust_entries))}
    rows = [
        {"section": section, "entry": entry, "added_at": now}
        for section in SECTIONS
        for entry in data.get(section, [])
        if (section, json.dumps(entry, sort_keys=True)) not in held  # importing a list again adds nothing twice
    ]
    if rows:
        conn.execute(trust_entries.insert(), rows)
    return len(rows)


def trust_list(conn: Connection) -> dict[str, Any]:
    document: dict[str, Any] = {section: [] for section in SECTIONS}
    for row in conn.execute(select(trust_entries).order_by(trust_entries.c.id)):
        document[row.section].append(row.entry)
    added = conn.execute(select(trust_entries.c.added_at).order_by(trust_entries.c.added_at.desc())).first()
    if added is not None:
        document["issued_at"] = aware(added[0]).isoformat()  # type: ignore[union-attr]
    return document


def config_document(conn: Connection, device_id: str, venue_id: int, now: datetime) -> tuple[dict[str, Any], str]:
    """The configuration a device follows, and its version (the ETag); the version ignores `now`."""
    venue = conn.execute(select(venues.c.code, venues.c.policy).where(venues.c.id == venue_id)).one()
    status = status_list(conn, now)
    body = {
        "device": {"id": device_id, "venue": venue.code},
        "policy": venue.policy or {},
        "trust_list": trust_list(conn),
        "status_list": status,
        "messages": {},
    }
    stable = {**body, "status_list": {"entries": status["entries"]}}
    version = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return {"version": version, **body}, version
