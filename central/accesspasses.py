"""Access passes the centre issues (`AC1:`, docs/pass-format.md): staff badges, visitor passes and tickets.

Each pass issued is kept (its id, venue, type, holder's subject key, validity, single use), so that it can be
revoked (its id on the status list, which every kiosk pulls) and so that a single-use pass used twice is found:
kiosks cut off from each other may each let it in once, and when both uploads arrive the centre names the pass,
the gates and the times (`double_uses`). No name or ID number is kept: a holder is their subject key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select

from central.admin import venue_id
from central.audit import record
from central.errors import CentralError, NotFound
from central.lists import set_status
from central.passkeys import PassKey, is_published
from central.schema import access_passes, events, venues
from central.timeutil import aware
from kiosk.credentials.accesspass import TYPES, AccessClaims, issue_access_pass

MAX_VALID = timedelta(days=400)  # a badge for a year and some; renewing it is the way to extend it


@dataclass(frozen=True)
class IssuedPass:
    pass_id: str  # 32 hex
    text: str  # the QR text
    subject_key: str  # what the gates record: the holder's key, or the pass id for a single-use pass
    valid_until: datetime


@dataclass(frozen=True)
class DoubleUse:
    pass_id: str
    venue: str
    type: str
    entries: list[tuple[str, datetime]]  # (device id, time) of each entry let through


def issue(
    conn: Connection,
    *,
    venue: str,
    kind: str,
    holder: str | None,
    valid_from: datetime,
    valid_until: datetime,
    single_use: bool,
    key: PassKey,
    issuer: str,
    now: datetime,
    actor: str,
) -> IssuedPass:
    """Issue and keep one pass; CentralError (saying what) if it could not be used at any gate."""
    if kind not in TYPES:
        raise CentralError(f"a pass is a {', '.join(TYPES)}, not {kind!r}")
    if holder is None and kind != "ticket":
        raise CentralError(f"a {kind} needs its holder (--cccd or --subject-key); only a ticket may be unnamed")
    if not valid_from < valid_until <= valid_from + MAX_VALID:
        raise CentralError(f"a pass must end after it starts, and within {MAX_VALID.days} days")
    if not is_published(conn, key):
        raise CentralError("the pass key is not in the trust list; run: kiosk-central pass-key publish")
    place = venue_id(conn, venue)
    raw_id = secrets.token_bytes(16)
    pass_id = raw_id.hex()
    claims = AccessClaims(holder or pass_id, valid_from, valid_until, raw_id, issuer, kind, venue, single_use)
    try:
        text = issue_access_pass(claims, key.private, key.kid)
    except ValueError as exc:
        raise CentralError(str(exc)) from None
    recorded_as = pass_id if single_use or holder is None else holder
    conn.execute(
        access_passes.insert().values(
            venue_id=place,
            pass_id=pass_id,
            type=kind,
            holder=holder,
            recorded_as=recorded_as,
            single_use=single_use,
            valid_from=valid_from,
            valid_until=valid_until,
            issued_at=now,
            revoked_at=None,
        )
    )
    detail = {"type": kind, "single_use": single_use, "valid_until": valid_until.isoformat()}
    record(conn, at=now, actor=actor, action="pass-issue", subject=f"{venue}/{pass_id}", reason="", detail=detail)
    return IssuedPass(pass_id, text, recorded_as, valid_until)


def revoke(conn: Connection, pass_id: str, *, now: datetime, actor: str, reason: str) -> None:
    """Put the pass's id on the status list until the pass would have ended (every kiosk refuses it then)."""
    row = conn.execute(select(access_passes).where(access_passes.c.pass_id == pass_id.lower())).first()
    if row is None:
        raise NotFound(f"no pass {pass_id[:40]!r} was issued here")
    if row.revoked_at is None:
        set_status(conn, row.pass_id, "red", aware(row.valid_until), now)
        conn.execute(access_passes.update().where(access_passes.c.pass_id == row.pass_id).values(revoked_at=now))
    record(conn, at=now, actor=actor, action="pass-revoke", subject=row.pass_id, reason=reason)


def double_uses(conn: Connection, since: datetime, venue: str | None = None) -> list[DoubleUse]:
    """Single-use passes that more than one entry was let through on since `since`: gates that could not
    reach each other, or the centre, each let the holder in once."""
    entries = (
        select(access_passes.c.pass_id, venues.c.code, access_passes.c.type, events.c.device_id, events.c.time)
        .join(venues, venues.c.id == access_passes.c.venue_id)
        .join(
            events,
            and_(
                events.c.venue_id == access_passes.c.venue_id,
                events.c.subject_key == access_passes.c.recorded_as,
                events.c.kind == "access-pass",
                events.c.decision == "ACCEPT",
                events.c.direction == "in",
            ),
        )
        .where(access_passes.c.single_use.is_(True), events.c.time >= since)
    )
    if venue is not None:
        entries = entries.where(venues.c.code == venue)
    found: dict[str, DoubleUse] = {}
    for row in conn.execute(entries.order_by(events.c.time)):
        use = found.setdefault(row.pass_id, DoubleUse(row.pass_id, row.code, row.type, []))
        time = row.time if row.time.tzinfo is not None else row.time.replace(tzinfo=UTC)  # SQLite keeps no zone
        use.entries.append((row.device_id or "?", time))
    return [use for use in found.values() if len(use.entries) > 1]


def describe(use: DoubleUse) -> dict[str, Any]:
    return {
        "pass_id": use.pass_id,
        "venue": use.venue,
        "type": use.type,
        "entries": [{"device": device, "time": time.isoformat()} for device, time in use.entries],
    }
