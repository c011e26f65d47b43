"""Who is inside a venue, and its visits (docs/access-list.md): the roll call an evacuation needs.

Who is inside at a moment is read from the passages of that local day ($KIOSK_CENTRAL_TZ) up to the moment: a
person whose latest ACCEPTed passage at the venue is "in" is inside, since that passage. A visit is open until an
ACCEPTed passage "out" of its subject key at the venue comes after it opened; an open visit puts its visitor
inside even before its "visit-opened" event has reached the centre (a visitor is the one an evacuation must not
forget). Everyone inside is a visitor (an open visit: its host, purpose and ID tail), enrolled (in the venue's
access list: their groups) or other.

The day's passages are read in the database through the index events_venue_time, a window function keeping each
person's latest (a day of 50,000 passages is one range scan); a visit's closing passage is found through
events_subject_time. Both lists name people, so the command line and the page audit every look-up.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, and_, func, select

from central import audit
from central.admin import Venue, find_venue
from central.errors import CentralError
from central.localtime import day_range, local_day, local_zone
from central.schema import access_groups, access_members, events, visits
from central.timeutil import aware

Kind = Literal["visitor", "enrolled", "other"]
KINDS: tuple[Kind, ...] = ("visitor", "enrolled", "other")
INSIDE_ACTION = "visits-inside"  # the audit log's action codes
LIST_ACTION = "visits-list"
CHUNK = 500  # subject keys per IN (...) when reading groups: well under every driver's limit on parameters
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


class VisitsError(CentralError):
    """A roll-call time or day that cannot be read."""


@dataclass(frozen=True)
class Visit:
    visit_id: str
    subject_key: str
    device_id: str
    host: str
    purpose: str
    id_tail: str | None
    opened_at: datetime
    closed_at: datetime | None  # the first ACCEPTed passage out after it opened; None: still open

    def as_json(self) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id,
            "subject_key": self.subject_key,
            "device_id": self.device_id,
            "host": self.host,
            "purpose": self.purpose,
            "id_tail": self.id_tail,
            "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


@dataclass(frozen=True)
class Present:
    """Someone inside: since their latest passage in (or their visit's opening), and what kind of person."""

    subject_key: str
    since: datetime
    kind: Kind
    visit: Visit | None = None  # a visitor's open visit
    groups: tuple[str, ...] = ()  # an enrolled person's groups at the venue

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"subject_key": self.subject_key, "since": self.since.isoformat(), "kind": self.kind}
        if self.visit is not None:
            shown["visit"] = self.visit.as_json()
        if self.kind == "enrolled":
            shown["groups"] = list(self.groups)
        return shown


@dataclass(frozen=True)
class Inside:
    """Who is inside `venue` at `at`: visitors, then enrolled people, then others, each by the time they came."""

    venue: Venue
    at: datetime
    people: tuple[Present, ...]

    def of(self, kind: Kind) -> list[Present]:
        return [person for person in self.people if person.kind == kind]

    @property
    def counts(self) -> dict[str, int]:
        return {"inside": len(self.people)} | {kind: len(self.of(kind)) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue.code,
            "at": self.at.isoformat(),
            "day": local_day(self.at).isoformat(),
            "counts": self.counts,
            "people": [person.as_json() for person in self.people],
        }


def inside(conn: Connection, venue_code: str, at: datetime) -> Inside:
    """Everyone inside venue `venue_code` at `at`, from the passages of `at`'s local day up to `at` (NotFound if
    there is no such venue)."""
    venue = find_venue(conn, venue_code)
    at = at.astimezone(UTC)
    start = day_range(local_day(at))[0].astimezone(UTC)
    since = _latest_in(conn, venue.id, start, at)
    opened = and_(visits.c.opened_at >= start, visits.c.opened_at <= at)
    still_open = {v.subject_key: v for v in _visits(conn, venue.id, opened, closed_by=at) if v.closed_at is None}
    for key, visit in still_open.items():
        since.setdefault(key, visit.opened_at)
    groups = _groups(conn, venue.id, [key for key in since if key not in still_open])
    people = [_present(key, moment, still_open.get(key), groups.get(key, ())) for key, moment in since.items()]
    people.sort(key=lambda p: (KINDS.index(p.kind), p.groups, p.since, p.subject_key))
    return Inside(venue, at, tuple(people))


def open_visits(conn: Connection, venue_code: str, day: date) -> list[Visit]:
    """The visits of venue `venue_code` opened on the local `day`, in the order they opened, each with the time it
    closed (None: still open)."""
    venue = find_venue(conn, venue_code)
    start, end = (moment.astimezone(UTC) for moment in day_range(day))
    return _visits(conn, venue.id, and_(visits.c.opened_at >= start, visits.c.opened_at < end), closed_by=None)


def audited_inside(
    conn: Connection,
    venue_code: str,
    at: datetime,
    *,
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
) -> Inside:
    """`inside`, recorded in the audit log in the same transaction: it lists people."""
    found = inside(conn, venue_code, at)
    detail = {"at": found.at.isoformat(), "counts": found.counts}
    audit.record(
        conn,
        at=now,
        actor=actor,
        action=INSIDE_ACTION,
        subject=found.venue.code,
        reason=reason,
        detail=detail,
        address=address,
    )
    return found


def audited_visits(
    conn: Connection, venue_code: str, day: date, *, actor: str, reason: str, now: datetime
) -> list[Visit]:
    """`open_visits`, recorded in the audit log in the same transaction: it lists visitors."""
    found = open_visits(conn, venue_code, day)
    detail = {"day": day.isoformat(), "visits": len(found)}
    audit.record(conn, at=now, actor=actor, action=LIST_ACTION, subject=venue_code, reason=reason, detail=detail)
    return found


def roll_call_time(text: str | None, now: datetime) -> datetime:
    """The moment a roll call is for, as a person gives it: nothing for `now`, HH:MM for that time of today (local
    time), or an ISO 8601 time (without a zone: local time)."""
    value = (text or "").strip()
    if not value:
        return now
    zone = local_zone()
    if match := _HHMM.match(value):
        return datetime.combine(local_day(now, zone), time(int(match[1]), int(match[2])), zone)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise VisitsError(f"{value[:40]!r} is not a time: give HH:MM (today, local time) or 2026-12-07T18:00") from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def local_date(text: str | None, now: datetime) -> date:
    """A local day as a person gives it (YYYY-MM-DD); nothing for today."""
    value = (text or "").strip()
    if not value:
        return local_day(now)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise VisitsError(f"{value[:40]!r} is not a day: give YYYY-MM-DD") from None


def _latest_in(conn: Connection, venue_id: int, start: datetime, at: datetime) -> dict[str, datetime]:
    """Each person whose latest ACCEPTed passage at the venue from `start` to `at` is "in", and its time."""
    latest = func.row_number().over(
        partition_by=events.c.subject_key, order_by=(events.c.time.desc(), events.c.seq.desc())
    )
    ranked = (
        select(events.c.subject_key, events.c.direction, events.c.time, latest.label("latest"))
        .where(
            events.c.venue_id == venue_id,
            events.c.time >= start,  # SQLite keeps a datetime's clock time and drops its offset: bounds in UTC
            events.c.time <= at,
            events.c.decision == "ACCEPT",
            events.c.subject_key.is_not(None),
        )
        .subquery()
    )
    query = select(ranked.c.subject_key, ranked.c.time).where(ranked.c.latest == 1, ranked.c.direction == "in")
    return {row.subject_key: _utc(row.time) for row in conn.execute(query)}


def _visits(conn: Connection, venue_id: int, opened: ColumnElement[bool], *, closed_by: datetime | None) -> list[Visit]:
    """The venue's visits that opened as `opened` says, each with its first ACCEPTed passage out after it opened
    (up to `closed_by`, if given)."""
    out = [
        events.c.venue_id == visits.c.venue_id,
        events.c.subject_key == visits.c.subject_key,
        events.c.direction == "out",
        events.c.decision == "ACCEPT",
        events.c.time > visits.c.opened_at,
    ]
    if closed_by is not None:
        out.append(events.c.time <= closed_by)
    closed = select(func.min(events.c.time)).where(*out).scalar_subquery()
    query = (
        select(visits, closed.label("closed_at"))
        .where(visits.c.venue_id == venue_id, opened)
        .order_by(visits.c.opened_at, visits.c.visit_id)
    )
    return [_visit(row) for row in conn.execute(query)]


def _visit(row: Any) -> Visit:
    closed = _utc(row.closed_at) if row.closed_at is not None else None
    return Visit(
        row.visit_id, row.subject_key, row.device_id, row.host, row.purpose, row.id_tail, _utc(row.opened_at), closed
    )


def _groups(conn: Connection, venue_id: int, keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The names of the groups each of `keys` is in at the venue (only those enrolled there)."""
    found: defaultdict[str, list[str]] = defaultdict(list)
    wanted = sorted(keys)
    membership = and_(
        access_groups.c.venue_id == access_members.c.venue_id, access_groups.c.id == access_members.c.group_id
    )
    for n in range(0, len(wanted), CHUNK):
        query = (
            select(access_members.c.subject_key, access_groups.c.name)
            .join(access_groups, membership)
            .where(access_members.c.venue_id == venue_id, access_members.c.subject_key.in_(wanted[n : n + CHUNK]))
        )
        for row in conn.execute(query):
            found[row.subject_key].append(row.name)
    return {key: tuple(sorted(names)) for key, names in found.items()}


def _present(key: str, since: datetime, visit: Visit | None, groups: tuple[str, ...]) -> Present:
    if visit is not None:
        return Present(key, since, "visitor", visit=visit)
    return Present(key, since, "enrolled", groups=groups) if groups else Present(key, since, "other")


def _utc(moment: datetime) -> datetime:
    value = aware(moment)
    assert value is not None
    return value.astimezone(UTC)
