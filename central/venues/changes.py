"""What the venue pages change: a venue's name, category and unit; retiring it; revoking one of its kiosks. Each
is audited in the same transaction (central/audit.py) with its values before and after, under the venue's code,
so the venue's page shows its own history.

Retiring a venue keeps it and everything recorded there (events, visits, the audit log: tracing still finds who
was there), and revokes its kiosks: a revoked device is already refused by every device call (central/devices.py
`authenticate`, `challenge`), so no new refusal path is needed, and its unused enrolment codes expire, so no new
kiosk joins it. The dashboard no longer counts it (central/progress.py).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from central import audit
from central.categories import CATEGORIES
from central.schema import audit_log, devices, enroll_codes, units, venues
from central.venues.search import venue_key

MAX_NAME = 200
EDIT, RETIRE, REVOKE = "venue-edit", "venue-retire", "device-revoke"
ACTIONS = (EDIT, RETIRE, REVOKE)


class VenueChangeError(Exception):
    """A change refused; `problem` is the catalogue key (central/web/messages.py) that says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Who:
    """Who makes a change, from where, and why: what the audit log keeps."""

    actor: str
    reason: str
    now: datetime
    address: str | None = None


def clean_name(name: str) -> str:
    """A venue's name as typed, spaces collapsed; VenueChangeError("venue.name") when empty, too long or with a
    control character."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME or any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise VenueChangeError("venue.name")
    return cleaned


def edit_venue(conn: Connection, venue_id: int, *, name: str, category: str, unit_id: int, who: Who) -> bool:
    """Set the venue's name, category and unit; False when nothing changed (nothing is audited then)."""
    name = clean_name(name)
    if category not in CATEGORIES:
        raise VenueChangeError("venue.category")
    row = _venue(conn, venue_id)
    before = {"name": row.name, "category": row.category, "unit": row.unit_code}
    unit_code = conn.execute(select(units.c.code).where(units.c.id == unit_id)).scalar_one()
    after = {"name": name, "category": category, "unit": unit_code}
    if before == after:
        return False
    values = {"name": name, "category": category, "unit_id": unit_id}
    values |= {"folded": venue_key(row.code, name), "folded_from": name}
    conn.execute(update(venues).where(venues.c.id == venue_id).values(**values))
    changed = [key for key in after if before[key] != after[key]]
    _audit(conn, EDIT, row.code, who, {k: before[k] for k in changed}, {k: after[k] for k in changed})
    return True


def retire_venue(conn: Connection, venue_id: int, *, who: Who) -> list[str]:
    """Retire the venue: its kiosks revoked, its unused enrolment codes expired; returns the kiosks revoked."""
    if not who.reason.strip():
        raise VenueChangeError("venue.reason")
    row = _venue(conn, venue_id)
    live = select(devices.c.id).where(devices.c.venue_id == venue_id, devices.c.revoked_at.is_(None))
    revoked = sorted(conn.execute(live).scalars())
    conn.execute(update(venues).where(venues.c.id == venue_id).values(retired_at=who.now))
    conn.execute(
        update(devices).where(devices.c.venue_id == venue_id, devices.c.revoked_at.is_(None)).values(revoked_at=who.now)
    )
    codes = conn.execute(
        update(enroll_codes)
        .where(enroll_codes.c.venue_id == venue_id, enroll_codes.c.used_at.is_(None))
        .where(enroll_codes.c.expires_at > who.now)
        .values(expires_at=who.now)
    ).rowcount
    before = {"retired_at": None, "kiosks": revoked}
    after = {"retired_at": who.now.isoformat(), "kiosks": [], "enrolment_codes_expired": codes}
    _audit(conn, RETIRE, row.code, who, before, after)
    return revoked


def revoke_kiosk(conn: Connection, venue_id: int, device_id: str, *, who: Who) -> None:
    """Revoke one kiosk of the venue: from now on its token, challenges and uploads are refused."""
    if not who.reason.strip():
        raise VenueChangeError("venue.reason")
    row = _venue(conn, venue_id)
    done = conn.execute(
        update(devices)
        .where(devices.c.id == device_id, devices.c.venue_id == venue_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=who.now)
    )
    if done.rowcount != 1:
        raise VenueChangeError("venue.device")
    before: dict[str, Any] = {"device": device_id, "revoked_at": None}
    _audit(conn, REVOKE, row.code, who, before, {"device": device_id, "revoked_at": who.now.isoformat()})


def history(conn: Connection, code: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest changes made to the venue from these pages, newest first (index `audit_log_subject`)."""
    query = select(audit_log).where(audit_log.c.subject == code, audit_log.c.action.in_(ACTIONS))
    return [dict(row._mapping) for row in conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))]


def _venue(conn: Connection, venue_id: int) -> Any:
    row = conn.execute(
        select(venues.c.code, venues.c.name, venues.c.category, venues.c.retired_at, units.c.code.label("unit_code"))
        .join(units, units.c.id == venues.c.unit_id)
        .where(venues.c.id == venue_id)
    ).one()
    if row.retired_at is not None:
        raise VenueChangeError("venue.retired")
    return row


def _audit(conn: Connection, action: str, code: str, who: Who, before: dict[str, Any], after: dict[str, Any]) -> None:
    audit.record(
        conn,
        at=who.now,
        actor=who.actor,
        action=action,
        subject=code,
        reason=who.reason,
        detail={"before": before, "after": after},
        address=who.address,
    )
