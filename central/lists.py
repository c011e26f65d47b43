"""The lists the centre keeps and every kiosk follows: status list, trust list, and the config document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select, text

from central.diagnostics.store import pending as pending_diagnostics
from central.errors import CentralError
from central.releases.offer import update_offer  # the `update` field (docs/updates.md); declares `releases`
from central.schema import status_entries, trust_entries, venues
from central.timeutil import aware
from central.trustsources import tables as _trust_source_tables  # noqa: F401  (declares trust_sources: migration 0013)
from central.venuestate import peers_of
from kiosk.credentials.trust import TrustListError, TrustStore

SECTIONS = ("certificates", "shc_issuers", "csca", "pass_keys")


def set_status(conn: Connection, subject_key: str, status: str, until: datetime | None, now: datetime) -> None:
    if status not in ("red", "yellow") or len(subject_key) != 32:
        raise CentralError("a status entry needs a 32-hex subject key and status red or yellow")
    if until is not None:  # SQLite keeps no zone: every stored time is UTC, or it would be read back shifted
        until = until.astimezone(UTC)
    _write_status(conn, subject_key, {"status": status, "until": until, "cleared": False}, now)


def clear_status(conn: Connection, subject_key: str, now: datetime) -> bool:
    """Take `subject_key` off the list; a tombstone stays so that kiosks fetching changes drop it too."""
    live = conn.execute(
        select(status_entries.c.subject_key).where(
            status_entries.c.subject_key == subject_key, status_entries.c.cleared.is_(False)
        )
    ).first()
    if live is None:
        return False
    _write_status(conn, subject_key, {"status": "red", "until": None, "cleared": True}, now)
    return True


def _write_status(conn: Connection, subject_key: str, values: dict[str, Any], now: datetime) -> None:
    if conn.dialect.name == "postgresql":
        # Versions must be given in commit order, or a kiosk could read version N before an N-1 commits and
        # never fetch it. Status changes are rare (officers, not kiosks): serialising them costs nothing.
        conn.execute(text("LOCK TABLE status_entries IN SHARE ROW EXCLUSIVE MODE"))
    version = (conn.execute(select(func.max(status_entries.c.version))).scalar() or 0) + 1
    conn.execute(delete(status_entries).where(status_entries.c.subject_key == subject_key))
    conn.execute(status_entries.insert().values(subject_key=subject_key, updated_at=now, version=version, **values))


def live_status_entries(conn: Connection, limit: int) -> tuple[Sequence[Row[Any]], int]:
    """The entries not cleared, the latest changed first, at most `limit` of them; and how many there are."""
    live = ~status_entries.c.cleared
    rows = conn.execute(
        select(status_entries).where(live).order_by(status_entries.c.updated_at.desc()).limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(status_entries).where(live)).scalar_one()
    return rows, int(total)


def status_version(conn: Connection) -> int:
    return int(conn.execute(select(func.max(status_entries.c.version))).scalar() or 0)


def status_list(conn: Connection, now: datetime, since: int = 0) -> dict[str, Any]:
    """The status list as of now: whole (`since` 0) or the changes after version `since`.

    {"version": V, "full": bool, "issued_at": ..., "entries": [...], "cleared": [subject keys]}. Expired
    entries are left out of a whole list; a change list carries them so the kiosk's copy stays exact.
    """
    changed = status_entries.c.version > since if since else status_entries.c.cleared.is_(False)
    query = select(status_entries).where(changed).order_by(status_entries.c.version)
    entries, cleared = [], []
    for row in conn.execute(query):
        until = aware(row.until)
        if row.cleared:
            cleared.append(row.subject_key)
        elif since or until is None or until >= now:
            entry = {"subject_key": row.subject_key, "status": row.status}
            if until is not None:
                entry["until"] = until.isoformat()
            entries.append(entry)
    version = status_version(conn)
    return {"version": version, "full": not since, "issued_at": now.isoformat(), "entries": entries, "cleared": cleared}


def import_trust(conn: Connection, data: Any, now: datetime) -> int:
    """Add the entries of a trust-list document (docs/trust-list.md) not held yet; returns how many were added.
    Each is checked the way kiosks read it first, so a list no kiosk could load is refused whole."""
    try:
        TrustStore.from_json(data)
    except TrustListError as exc:
        raise CentralError(f"trust list refused: {exc}") from None
    # Only entries imported by hand count as held: one a source also lists leaves with that source's next list.
    by_hand = select(trust_entries).where(trust_entries.c.source.is_(None))
    held = {(row.section, json.dumps(row.entry, sort_keys=True)) for row in conn.execute(by_hand)}
    rows = [
        {"section": section, "entry": entry, "added_at": now}
        for section in SECTIONS
        for entry in data.get(section, [])
        if (section, json.dumps(entry, sort_keys=True)) not in held  # importing a list again adds nothing twice
    ]
    if rows:
        conn.execute(trust_entries.insert(), rows)
    return len(rows)


def trust_list(conn: Connection, now: datetime) -> dict[str, Any]:
    """The trust list as the centre issues it now: `issued_at` is the time it is served, not the newest entry's
    (signers change rarely; a kiosk measures how long since the centre last confirmed its list)."""
    document: dict[str, Any] = {section: [] for section in SECTIONS}
    seen: set[str] = set()  # an entry both imported by hand and on a source's list goes to kiosks once
    for row in conn.execute(select(trust_entries).order_by(trust_entries.c.id)):
        key = json.dumps([row.section, row.entry], sort_keys=True)
        if key not in seen:
            seen.add(key)
            document[row.section].append(row.entry)
    document["issued_at"] = now.isoformat()
    return document


def config_document(conn: Connection, device_id: str, venue_id: int, now: datetime) -> tuple[dict[str, Any], str]:
    """The configuration a device follows, and its version (the ETag); the version ignores `now`."""
    venue = conn.execute(select(venues.c.code, venues.c.policy).where(venues.c.id == venue_id)).one()
    trust = trust_list(conn, now)
    body = {
        "device": {"id": device_id, "venue": venue.code},
        "policy": venue.policy or {},
        "trust_list": {**trust, "issued_at": None},
        "status_list_version": status_version(conn),  # the list itself comes from /status-list, by changes
        "peers": peers_of(conn, venue_id, device_id),  # the venue's other gates (docs/venue-state.md)
        "messages": {},
    }
    offer = update_offer(conn, device_id, venue_id)  # a signed release to install, or None (docs/updates.md)
    if offer is not None:  # hashed only when there is one: a device offered nothing keeps the version it had
        body["update"] = offer
    asked = pending_diagnostics(conn, device_id, now)  # a technician's request (docs/updates.md), or None
    if asked is not None:  # likewise
        body["diagnostics"] = asked
    version = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return {"version": version, **body, "trust_list": trust, "update": offer, "diagnostics": asked}, version
