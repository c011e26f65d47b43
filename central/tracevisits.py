"""Visits made of passages, for contact tracing: who was where, from when to when.

A person's ACCEPTed passages at one venue, in time order, are paired: an "in" with the next "out". A passage
that has no partner gets the venue category's default dwell:
- an "in" whose next passage is another "in", or an "out" more than MAX_VISIT later, or nothing: it ends at
  in + dwell, but no later than that next passage (nobody enters twice without leaving) nor than now;
- an "out" with no "in" before it: it began at out - dwell, but no earlier than the visit before it ended.
Devices that only watch the entrance give "in"s only: every visit there is in + dwell. A repeated scan at the
entrance (two kiosks, or the same code twice) makes no visit of its own. Times are seconds since the epoch
here; the visit's own dataclass (central.tracing) has datetimes.

Dwell defaults (minutes) are per venue category, after how long people stay at such places; the centre may
change one with `kiosk-central dwell set CATEGORY MINUTES` (settings key "dwell_min.<category>").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Float,
    Integer,
    and_,
    bindparam,
    cast,
    column,
    extract,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from central.categories import CATEGORIES
from central.errors import NotFound
from central.schema import events
from central.settings import set_setting, settings_with_prefix
from central.timeutil import aware

MAX_VISIT = timedelta(hours=24)  # an "out" further than this from its "in" is not its exit; nobody stays longer
MAX_VISIT_S = MAX_VISIT.total_seconds()
MAX_DWELL_MIN = int(MAX_VISIT_S // 60)
DWELL_PREFIX = "dwell_min."
RANGES_PER_QUERY = 25  # OR-ed (venue, time range) conditions in one SELECT (SQLite): the planner stays quick
# The WHERE of events_venue_presence (migration 0017), what a trace reads at a venue: the decision a constant in
# the SQL, not a parameter. PostgreSQL uses a partial index only where it proves the index's WHERE from the
# query's, which it cannot from a parameter in a generic plan, made once for any value (psycopg prepares a
# statement run 5 times on a connection; the server may then plan it generically after 5 more).
PRESENT = and_(events.c.decision == literal_column("'ACCEPT'"), events.c.subject_key.is_not(None))

DEFAULT_DWELL_MIN: dict[str, int] = {
    "office": 480,
    "factory": 480,
    "school": 480,
    "hospital": 120,
    "station": 30,
    "vehicle": 60,
    "market": 60,
    "restaurant": 60,
    "hotel": 720,
    "event": 180,
    "religious": 90,
    "tourism": 120,
    "residential": 720,
    "checkpoint": 5,
    "other": 60,
}


class Passage(NamedTuple):  # a tuple: tens of thousands are made for one trace
    subject_key: str
    venue_id: int
    at: float  # seconds since the epoch
    direction: str  # "in" or "out"


@dataclass(frozen=True, slots=True)
class Span:
    """One visit: [start, end] at a venue, and which ends were estimated from the dwell."""

    venue_id: int
    start: float
    end: float
    start_estimated: bool = False
    end_estimated: bool = False


# Dwell settings


def dwell_table(conn: Connection) -> dict[str, int]:
    """Minutes of default dwell per category: the defaults, with the centre's settings over them."""
    table = dict(DEFAULT_DWELL_MIN)
    for category, value in settings_with_prefix(conn, DWELL_PREFIX).items():
        if category in table and value.strip().isdigit():
            table[category] = min(max(int(value), 1), MAX_DWELL_MIN)
    return table


def set_dwell(conn: Connection, category: str, minutes: int) -> None:
    """Make `minutes` the default dwell of `category` (1 minute to MAX_VISIT)."""
    if category not in CATEGORIES:
        raise NotFound(f"no venue category {category!r}; one of: {', '.join(CATEGORIES)}")
    if not 1 <= minutes <= MAX_DWELL_MIN:
        raise ValueError(f"a dwell is 1 to {MAX_DWELL_MIN} minutes")
    set_setting(conn, DWELL_PREFIX + category, str(minutes))


# Reading passages


def pruning_day(earliest: datetime) -> date:
    """The first received_day that can hold an event at `earliest` or later: events are never received before
    they happen, so on PostgreSQL older partitions are skipped. A day more for a device clock a little ahead."""
    return earliest.astimezone(UTC).date() - timedelta(days=1)


def subject_passages(conn: Connection, subject_key: str, start: datetime, end: datetime) -> list[Passage]:
    """The ACCEPTed passages of one person from start - MAX_VISIT to end + MAX_VISIT (index events_subject_time)."""
    return subjects_passages(conn, [subject_key], start, end)


def subjects_passages(conn: Connection, subject_keys: Sequence[str], start: datetime, end: datetime) -> list[Passage]:
    """`subject_passages` of several people in one SELECT: the index is scanned once per key, in one round trip
    (the second degree reads twenty people's)."""
    if not subject_keys:
        return []
    low, high = _utc(start) - MAX_VISIT, _utc(end) + MAX_VISIT
    keys = sorted(set(subject_keys))
    who = events.c.subject_key == keys[0] if len(keys) == 1 else events.c.subject_key.in_(keys)
    query = select(events.c.subject_key, events.c.venue_id, _seconds(conn), events.c.direction).where(
        who,
        events.c.decision == "ACCEPT",
        events.c.time >= low,
        events.c.time <= high,
        events.c.received_day >= pruning_day(low),
    )
    return _passages(conn, conn.execute(query).all())


def venue_passages(conn: Connection, ranges: Sequence[tuple[int, float, float]]) -> list[Passage]:
    """Everyone's ACCEPTed passages at each (venue, from, to) of `ranges` (index events_venue_presence). On
    PostgreSQL one SELECT whatever the number of ranges (`_joined`); elsewhere RANGES_PER_QUERY to a SELECT."""
    if conn.dialect.name == "postgresql":
        return _joined(conn, merged(ranges)) if ranges else []
    found: list[Passage] = []
    for first in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[first : first + RANGES_PER_QUERY]
        within = [
            and_(events.c.venue_id == venue, events.c.time >= _at(low), events.c.time <= _at(high))
            for venue, low, high in chunk
        ]
        query = select(events.c.subject_key, events.c.venue_id, _seconds(conn), events.c.direction).where(
            or_(*within),
            PRESENT,
            events.c.received_day >= pruning_day(_at(min(low for _, low, _ in chunk))),
        )
        found.extend(_passages(conn, conn.execute(query).all()))
    return found


def _joined(conn: Connection, ranges: list[tuple[int, float, float]]) -> list[Passage]:
    """The ranges as arrays, unnested and joined to `events`: one index scan per range and partition, planned
    once, where as many OR-ed conditions cost the planner about as much as the scans (a second-degree trace
    reads around a hundred ranges). The ranges do not overlap (`merged`), so no passage comes twice."""
    when = DateTime(timezone=True)
    bounds = func.unnest(
        cast(bindparam("venues", [venue for venue, _, _ in ranges]), ARRAY(Integer)),
        cast(bindparam("lows", [_at(low) for _, low, _ in ranges]), ARRAY(when)),
        cast(bindparam("highs", [_at(high) for _, _, high in ranges]), ARRAY(when)),
    )
    wanted = bounds.table_valued(column("venue", Integer), column("low", when), column("high", when))
    wanted = wanted.render_derived(name="wanted")
    at_venue = and_(events.c.venue_id == wanted.c.venue, events.c.time >= wanted.c.low, events.c.time <= wanted.c.high)
    query = select(events.c.subject_key, events.c.venue_id, _seconds(conn), events.c.direction)
    query = query.select_from(wanted.join(events, at_venue)).where(
        PRESENT,
        events.c.received_day >= pruning_day(_at(min(low for _, low, _ in ranges))),
    )
    return _passages(conn, conn.execute(query).all())


def _seconds(conn: Connection) -> ColumnElement[Any]:
    """A passage's time, as seconds since the epoch where the database gives them exactly: PostgreSQL's EXTRACT
    is its microseconds / 10^6, which float8 rounds as Python's timestamp() does, and reading a float is much
    cheaper than a datetime. SQLite's datetimes are converted in Python."""
    return cast(extract("epoch", events.c.time), Float) if conn.dialect.name == "postgresql" else events.c.time


def _passages(conn: Connection, rows: Sequence[Any]) -> list[Passage]:
    if conn.dialect.name == "postgresql":
        return [Passage(key, venue, at, direction) for key, venue, at, direction in rows]
    return [Passage(key, venue, aware(at).timestamp(), direction) for key, venue, at, direction in rows]  # type: ignore[union-attr]


def _utc(moment: datetime) -> datetime:
    # SQLite keeps a datetime's clock time and drops its offset: every bound is given in UTC
    return moment.astimezone(UTC)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# Pairing


def visits_by_subject(
    passages: Iterable[Passage],
    dwell_s: dict[int, float],
    now: float,
    near: Callable[[int, float, float], bool] | None = None,
) -> dict[str, dict[int, list[Span]]]:
    """Each subject's visits per venue, in time order; `dwell_s` is the default dwell of each venue. With `near`,
    only those of a subject at a venue whose passages, a dwell either side, `near(venue, from, to)` accepts: no
    visit made of them begins before the first passage less the dwell or ends after the last plus the dwell."""
    grouped: dict[tuple[str, int], list[Passage]] = {}
    for passage in passages:
        grouped.setdefault((passage.subject_key, passage.venue_id), []).append(passage)
    out: dict[str, dict[int, list[Span]]] = {}
    for (subject, venue), at_venue in grouped.items():
        at_venue.sort(key=lambda p: (p.at, p.direction == "in"))  # an exit and an entry at once: out first
        dwell = dwell_s[venue]
        if near is not None and not near(venue, at_venue[0].at - dwell, at_venue[-1].at + dwell):
            continue
        spans = list(pair(at_venue, dwell, now))
        if spans:
            out.setdefault(subject, {})[venue] = spans
    return out


def pair(passages: Sequence[Passage], dwell: float, now: float) -> Iterator[Span]:
    """The visits of one person at one venue, from their passages in time order."""
    opened: Passage | None = None
    last_end = float("-inf")
    for passage in passages:
        if opened is not None and passage.direction == "out" and passage.at - opened.at <= MAX_VISIT_S:
            yield Span(passage.venue_id, opened.at, passage.at)
            last_end, opened = passage.at, None
            continue
        if opened is not None:  # an "in" without its "out"
            end = min(opened.at + dwell, passage.at, max(now, opened.at))
            if end > opened.at:
                yield Span(opened.venue_id, opened.at, end, end_estimated=True)
            last_end, opened = end, None
        if passage.direction == "in":
            opened = passage
        else:  # an "out" without its "in"
            start = max(passage.at - dwell, last_end)
            if passage.at > start:
                yield Span(passage.venue_id, start, passage.at, start_estimated=True)
            last_end = passage.at
    if opened is not None:
        end = min(opened.at + dwell, max(now, opened.at))
        if end > opened.at:
            yield Span(opened.venue_id, opened.at, end, end_estimated=True)


# Overlaps


def ranges_around(own: dict[int, list[Span]]) -> list[tuple[int, float, float]]:
    """Per venue, the times whose passages can make a visit overlapping one of `own`'s: MAX_VISIT either side
    (no visit is longer), merged where they touch."""
    ranges: list[tuple[int, float, float]] = []
    for venue, spans in sorted(own.items()):
        low, high = spans[0].start - MAX_VISIT_S, spans[0].end + MAX_VISIT_S
        for span in spans[1:]:
            if span.start - MAX_VISIT_S > high:
                ranges.append((venue, low, high))
                low = span.start - MAX_VISIT_S
            high = max(high, span.end + MAX_VISIT_S)
        ranges.append((venue, low, high))
    return ranges


def merged(ranges: Iterable[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    """The union of (venue, from, to) ranges, in venue and time order: ranges of one venue that overlap or touch
    made one, so that passages read for several people's visits are read once."""
    out: list[tuple[int, float, float]] = []
    for venue, low, high in sorted(ranges):
        if out and out[-1][0] == venue and low <= out[-1][2]:
            out[-1] = (venue, out[-1][1], max(out[-1][2], high))
        else:
            out.append((venue, low, high))
    return out


def overlaps(mine: list[Span], theirs: list[Span]) -> Iterator[tuple[float, float]]:
    """Each non-empty intersection of a visit of `theirs` with one of `mine` (in order, not overlapping)."""
    ends = [span.end for span in mine]
    for other in theirs:
        index = bisect_right(ends, other.start)
        while index < len(mine) and mine[index].start < other.end:
            low, high = max(mine[index].start, other.start), min(mine[index].end, other.end)
            if high > low:
                yield low, high
            index += 1


class Busy:
    """The times at each venue that someone (several people) spent there: their visits, merged. Whether a stretch
    of time at a venue meets one of them, to pair only the passages that can make a visit that overlaps."""

    def __init__(self, visits: Iterable[dict[int, list[Span]]]) -> None:
        self._starts: dict[int, list[float]] = {}
        self._ends: dict[int, list[float]] = {}
        spans = [(venue, s.start, s.end) for per_venue in visits for venue, ss in per_venue.items() for s in ss]
        for venue, start, end in merged(spans):
            self._starts.setdefault(venue, []).append(start)
            self._ends.setdefault(venue, []).append(end)

    def meets(self, venue: int, low: float, high: float) -> bool:
        """Whether (low, high) and one of the visits at `venue` overlap (merged, they are apart and in order)."""
        ends = self._ends.get(venue)
        if ends is None:
            return False
        index = bisect_right(ends, low)
        return index < len(ends) and self._starts[venue][index] < high


class Presence:
    """Everyone's visits at each venue by start time, to find who may overlap a visit without going through
    everyone who was at that venue some time in a fortnight (the second degree asks it for twenty people)."""

    def __init__(self, visits: dict[str, dict[int, list[Span]]]) -> None:
        self._rows: dict[int, list[tuple[float, float, str]]] = {}
        for subject, per_venue in visits.items():
            for venue, spans in per_venue.items():
                self._rows.setdefault(venue, []).extend((span.start, span.end, subject) for span in spans)
        self._starts: dict[int, list[float]] = {}
        self._longest: dict[int, float] = {}
        for venue, rows in self._rows.items():
            rows.sort()
            self._starts[venue] = [row[0] for row in rows]
            self._longest[venue] = max(end - start for start, end, _ in rows)

    def around(self, venue: int, spans: Sequence[Span]) -> list[str]:
        """Who has a visit at `venue` that overlaps one of `spans`, each once (and maybe one that just misses:
        the caller's `overlaps` decides). A visit that ends after a span's start began at most the venue's
        longest visit before it: a second more, for rounding."""
        rows = self._rows.get(venue)
        if not rows:
            return []
        starts, longest = self._starts[venue], self._longest[venue]
        found: dict[str, None] = {}
        for span in spans:
            first, last = bisect_left(starts, span.start - longest - 1.0), bisect_left(starts, span.end)
            found.update((subject, None) for _, end, subject in rows[first:last] if end > span.start)
        return list(found)
