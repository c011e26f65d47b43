"""Contact tracing: where a person was in a time window, and who was there at the same time, for how long.

`trace` is a pure function over a Connection: the person's visits (central.tracevisits pairs their ACCEPTed
passages), then, venue by venue, everyone's passages around those visits (index events_venue_presence, which
holds what a trace reads, migration 0017; old partitions pruned by received_day), their visits made the same
way, and the overlap of each with the person's. A contact is one entry per (person, venue), overlaps summed,
ranked by overlap. A visit that overlaps the window counts whole.

Second degree (optional): the visits of the SECOND_DEGREE_TOP first-degree contacts with the most overlap, in
the same window, and whom they met (neither the index person nor a first-degree contact); one entry per
(person, venue), through the first-degree contact with whom the overlap was longest (`via`). The contacts are
looked up together, not one after the other: their passages in one SELECT, everyone's around their visits in
one more (PostgreSQL), paired once (issue 18: 20 contacts took 42 SELECTs and paired shared venues again).

`audited_trace` is what a command or a page calls: the trace and its audit record in one transaction.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from central.audit import record
from central.errors import CentralError
from central.localtime import local_zone
from central.schema import units, venues
from central.timeutil import utcnow
from central.tracevisits import (
    MAX_DWELL_MIN,
    Busy,
    Presence,
    Span,
    dwell_table,
    merged,
    overlaps,
    ranges_around,
    subjects_passages,
    venue_passages,
    visits_by_subject,
)

DEFAULT_WINDOW_DAYS = 14  # the incubation period the 2021 directives traced back
SECOND_DEGREE_TOP = 20  # first-degree contacts whose own contacts are looked up, most overlap first
CSV_COLUMNS = (
    "record", "subject_key", "degree", "via", "venue", "venue_name", "unit", "category",
    "in", "out", "entry_estimated", "exit_estimated", "minutes", "overlap_minutes", "first_overlap", "last_overlap",
)  # fmt: skip


class TraceError(CentralError, ValueError):
    """A trace that cannot be asked: the window is empty or reversed, a dwell out of bounds."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One visit of the traced person; `entry_estimated`/`exit_estimated`: that end is from the default dwell."""

    venue: str
    venue_name: str
    unit: str
    category: str
    entered: datetime
    left: datetime
    entry_estimated: bool
    exit_estimated: bool

    @property
    def minutes(self) -> float:
        return round((self.left - self.entered).total_seconds() / 60, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "venue": self.venue,
            "venue_name": self.venue_name,
            "unit": self.unit,
            "category": self.category,
            "in": _iso(self.entered),
            "out": _iso(self.left),
            "minutes": self.minutes,
            "entry_estimated": self.entry_estimated,
            "exit_estimated": self.exit_estimated,
        }


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone present at `venue` at the same time as the traced person (degree 1) or as a contact (degree 2)."""

    subject_key: str
    venue: str
    venue_name: str
    overlap_minutes: float
    degree: int
    via: str | None  # degree 2: the first-degree contact they met
    first_overlap: datetime
    last_overlap: datetime
    meetings: int  # overlapping pairs of visits summed into this entry

    def as_json(self) -> dict[str, Any]:
        return {
            "subject_key": self.subject_key,
            "venue": self.venue,
            "venue_name": self.venue_name,
            "overlap_minutes": self.overlap_minutes,
            "degree": self.degree,
            "via": self.via,
            "first_overlap": _iso(self.first_overlap),
            "last_overlap": _iso(self.last_overlap),
            "meetings": self.meetings,
        }


@dataclass(frozen=True)
class TraceResult:
    subject_key: str
    start: datetime
    end: datetime
    visits: list[Visit]
    contacts: list[Contact]  # ranked: most overlap first
    default_dwell_min: int | None = None
    second_degree: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "subject_key": self.subject_key,
            "from": _iso(self.start),
            "to": _iso(self.end),
            "default_dwell_min": self.default_dwell_min,
            "second_degree": self.second_degree,
            "visits": [v.as_json() for v in self.visits],
            "contacts": [c.as_json() for c in self.contacts],
        }

    def as_csv(self) -> str:
        """One table: a row per visit (record "visit"), then a row per contact (record "contact")."""
        out = io.StringIO()
        writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for visit in self.visits:
            writer.writerow({**visit.as_json(), "record": "visit", "subject_key": self.subject_key})
        for contact in self.contacts:
            writer.writerow({**contact.as_json(), "record": "contact"})
        return out.getvalue()


def trace(
    conn: Connection,
    subject_key: str,
    start: datetime,
    end: datetime,
    *,
    default_dwell_min: int | None = None,
    second_degree: bool = False,
    now: datetime | None = None,
) -> TraceResult:
    """The visits of `subject_key` overlapping [start, end] and the people met there (naive times: local)."""
    start, end, subject_key = _aware(start), _aware(end), subject_key.strip().lower()
    if start >= end:
        raise TraceError(f"the window is empty: from {_iso(start)} is not before to {_iso(end)}")
    if default_dwell_min is not None and not 1 <= default_dwell_min <= MAX_DWELL_MIN:
        raise TraceError(f"a default dwell is 1 to {MAX_DWELL_MIN} minutes, not {default_dwell_min}")
    place = _Venues(conn, default_dwell_min)
    tracer = _Tracer(conn, place, start, end, (now or utcnow()).timestamp())
    own = tracer.visits_of(subject_key)
    met = tracer.meet(own, exclude={subject_key})
    contacts = [_contact(key, venue, tally, 1, None, place) for (key, venue), tally in met.items()]
    if second_degree:
        contacts += [_contact(k, v, t, 2, via, place) for (k, v), (t, via) in tracer.second_degree(subject_key, met)]
    contacts.sort(key=lambda c: (-c.overlap_minutes, c.degree, c.subject_key, c.venue))
    visits = sorted((_visit(span, place) for spans in own.values() for span in spans), key=lambda v: v.entered)
    return TraceResult(subject_key, start, end, visits, contacts, default_dwell_min, second_degree)


def audited_trace(
    conn: Connection,
    subject_key: str,
    start: datetime,
    end: datetime,
    *,
    actor: str,
    reason: str,
    default_dwell_min: int | None = None,
    second_degree: bool = False,
    now: datetime | None = None,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> TraceResult:
    """`trace`, recorded in the audit log in the caller's transaction: no trace without its record.
    `detail` adds to what is recorded (the window, the options, how much was found)."""
    now = now or utcnow()
    result = trace(
        conn, subject_key, start, end, default_dwell_min=default_dwell_min, second_degree=second_degree, now=now
    )
    record_trace(conn, result, actor=actor, reason=reason, now=now, address=address, detail=detail)
    return result


def record_trace(
    conn: Connection,
    result: TraceResult,
    *,
    actor: str,
    reason: str,
    now: datetime,
    address: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """The audit record of a trace made, in `conn`'s transaction (the primary's, when the trace was read on a
    standby: the page shows the result only once this is committed)."""
    summary = {"from": _iso(result.start), "to": _iso(result.end), "default_dwell_min": result.default_dwell_min}
    summary |= {"second_degree": result.second_degree, "visits": len(result.visits), "contacts": len(result.contacts)}
    summary |= detail or {}
    record(
        conn,
        at=now,
        actor=actor,
        action="trace",
        subject=result.subject_key,
        reason=reason,
        detail=summary,
        address=address,
    )


def window(
    start: str | None, end: str | None, *, now: datetime | None = None, names: tuple[str, str] = ("from", "to")
) -> tuple[datetime, datetime]:
    """A window from ISO 8601 texts as a person types them (no zone: the centre's local time); by default the
    DEFAULT_WINDOW_DAYS days to now. `names` are the fields' names, for the errors."""
    until = local_time(end, names[1]) if end else (now or utcnow())
    since = local_time(start, names[0]) if start else until - timedelta(days=DEFAULT_WINDOW_DAYS)
    if since >= until:
        raise TraceError(f"{names[0]} {_iso(since)} is not before {names[1]} {_iso(until)}")
    return since, until


def local_time(value: str, name: str = "time") -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise TraceError(
            f"{name} {value!r}: not an ISO 8601 time (e.g. 2026-03-01T08:00, or with a zone, +07:00)"
        ) from None
    return _aware(moment)


@dataclass(slots=True)
class _Tally:
    seconds: float = 0.0
    first: float = float("inf")
    last: float = float("-inf")
    meetings: int = 0

    def add(self, low: float, high: float) -> None:
        self.seconds += high - low
        self.first, self.last, self.meetings = min(self.first, low), max(self.last, high), self.meetings + 1


@dataclass
class _Venues:
    """Venue codes, names and default dwells, read as venues turn up."""

    conn: Connection
    dwell_override_min: int | None
    rows: dict[int, tuple[str, str, str, str]] = field(default_factory=dict)  # code, name, unit, category
    dwell_min: dict[str, int] = field(default_factory=dict)

    def dwell_s(self, ids: set[int]) -> dict[int, float]:
        missing = ids - self.rows.keys()
        if missing:
            query = select(venues.c.id, venues.c.code, venues.c.name, units.c.code, venues.c.category)
            query = query.join(units, units.c.id == venues.c.unit_id).where(venues.c.id.in_(sorted(missing)))
            self.rows.update({row[0]: (row[1], row[2], row[3], row[4]) for row in self.conn.execute(query)})
        if not self.dwell_min:
            self.dwell_min = dwell_table(self.conn)
        return {venue: 60.0 * self._minutes(venue) for venue in ids}

    def _minutes(self, venue: int) -> int:
        if self.dwell_override_min is not None:
            return self.dwell_override_min
        category = self.rows.get(venue, ("", "", "", "other"))[3]
        return self.dwell_min.get(category, self.dwell_min["other"])

    def row(self, venue: int) -> tuple[str, str, str, str]:
        return self.rows.get(venue, (f"#{venue}", "(venue removed)", "", "other"))


@dataclass
class _Tracer:
    conn: Connection
    place: _Venues
    start: datetime
    end: datetime
    now: float

    def visits_of(self, subject_key: str) -> dict[int, list[Span]]:
        """The person's visits per venue, those that overlap the window."""
        return self.visits_of_each([subject_key])[subject_key]

    def visits_of_each(self, subject_keys: list[str]) -> dict[str, dict[int, list[Span]]]:
        """`visits_of` for several people, their passages read in one SELECT."""
        passages = subjects_passages(self.conn, subject_keys, self.start, self.end)
        spans = visits_by_subject(passages, self.place.dwell_s({p.venue_id for p in passages}), self.now)
        low, high = self.start.timestamp(), self.end.timestamp()
        each: dict[str, dict[int, list[Span]]] = {}
        for key in subject_keys:
            inside = {v: [s for s in ss if s.end > low and s.start < high] for v, ss in spans.get(key, {}).items()}
            each[key] = {venue: spans for venue, spans in inside.items() if spans}
        return each

    def meet(self, own: dict[int, list[Span]], exclude: set[str]) -> dict[tuple[str, int], _Tally]:
        """Who else was at each venue of `own` while they were, with the overlap summed per (person, venue)."""
        passages = [p for p in venue_passages(self.conn, ranges_around(own)) if p.subject_key not in exclude]
        theirs = visits_by_subject(passages, self.place.dwell_s(set(own)), self.now)
        tallies: dict[tuple[str, int], _Tally] = {}
        for subject, per_venue in theirs.items():
            for venue, spans in per_venue.items():
                for low, high in overlaps(own[venue], spans):
                    tallies.setdefault((subject, venue), _Tally()).add(low, high)
        return tallies

    def meet_each(
        self, owns: dict[str, dict[int, list[Span]]], exclude: set[str]
    ) -> dict[str, dict[tuple[str, int], _Tally]]:
        """`meet` for several people at once, the same tallies: everyone's passages around all their visits read
        once (where two people's ranges at a venue overlap, one range), and paired once, only where they can make
        a visit that meets one of theirs (`Busy`). Each visit that overlaps one of a person's comes from passages
        within MAX_VISIT of it, all inside that person's own ranges, so the passages read for the others (other
        times at the same venues) change none of them: where a range begins, they can only move the estimated
        start of a visit that ends before it meets any; tests/test_tracing.py compares the two on random crowds.
        `Presence` finds whom to compare each person with."""
        ranges = merged(r for own in owns.values() for r in ranges_around(own))
        passages = [p for p in venue_passages(self.conn, ranges) if p.subject_key not in exclude]
        dwell_s = self.place.dwell_s({v for own in owns.values() for v in own})
        theirs = visits_by_subject(passages, dwell_s, self.now, near=Busy(owns.values()).meets)
        present = Presence(theirs)
        each: dict[str, dict[tuple[str, int], _Tally]] = {}
        for key, own in owns.items():
            tallies = each.setdefault(key, {})
            for venue, spans in own.items():
                for subject in present.around(venue, spans):
                    for low, high in overlaps(spans, theirs[subject][venue]):
                        tallies.setdefault((subject, venue), _Tally()).add(low, high)
        return each

    def second_degree(
        self, subject_key: str, first: dict[tuple[str, int], _Tally]
    ) -> list[tuple[tuple[str, int], tuple[_Tally, str]]]:
        """Whom the top first-degree contacts met; per (person, venue) the longest, with its contact (the first of
        them in rank on a tie), all looked up at once (`visits_of_each`, `meet_each`)."""
        total: dict[str, float] = {}
        for (key, _), tally in first.items():
            total[key] = total.get(key, 0.0) + tally.seconds
        top = sorted(total, key=lambda k: (-total[k], k))[:SECOND_DEGREE_TOP]
        met = self.meet_each(self.visits_of_each(top), exclude={subject_key, *total})
        found: dict[tuple[str, int], tuple[_Tally, str]] = {}
        for via in top:
            for entry, tally in met[via].items():
                if entry not in found or tally.seconds > found[entry][0].seconds:
                    found[entry] = (tally, via)
        return list(found.items())


def _visit(span: Span, place: _Venues) -> Visit:
    code, name, unit, category = place.row(span.venue_id)
    zone = local_zone()
    entered, left = datetime.fromtimestamp(span.start, zone), datetime.fromtimestamp(span.end, zone)
    return Visit(code, name, unit, category, entered, left, span.start_estimated, span.end_estimated)


def _contact(key: str, venue: int, tally: _Tally, degree: int, via: str | None, place: _Venues) -> Contact:
    code, name, _, _ = place.row(venue)
    zone = local_zone()
    first, last = datetime.fromtimestamp(tally.first, zone), datetime.fromtimestamp(tally.last, zone)
    return Contact(key, code, name, round(tally.seconds / 60, 2), degree, via, first, last, tally.meetings)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=local_zone())


def _iso(moment: datetime) -> str:
    return moment.astimezone(local_zone()).isoformat(timespec="seconds")
