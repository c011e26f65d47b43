"""Contact tracing at the centre (issue 7): visits, contacts ranked by overlap, second degree, the command line,
the audit log. Each test runs on SQLite, and on PostgreSQL when $KIOSK_TEST_PG_URL is set.

The scenario below is made by hand, and every expected overlap is worked out in a comment beside it (local
times, +07:00; day N is N days after 1 March 2026). P is the person traced; the window is day 1 00:00 to day 6 00:00.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import pytest
from central_fixtures import SECRET
from click.testing import CliRunner
from conftest import CCCD_AN, PCCOVID_AN, on_canvas, qr_image
from sqlalchemy import Engine, select
from sqlalchemy.event import listen, remove

from central.admin import add_unit, add_venue
from central.audit import cli_actor
from central.cli import cli
from central.db import connect
from central.schema import audit_log, events
from central.subjects import SubjectError, subject_key_from
from central.tracevisits import (
    MAX_DWELL_MIN,
    MAX_VISIT_S,
    Passage,
    Presence,
    Span,
    _seconds,
    merged,
    overlaps,
    pair,
    ranges_around,
    set_dwell,
)
from central.tracing import SECOND_DEGREE_TOP, TraceError, _Tracer, trace, window
from kiosk.credentials import Identity, SubjectKeyer

ICT = timezone(timedelta(hours=7))
P_NUMBER = "001090012345"  # the number in CCCD_AN and PCCOVID_AN
P = SubjectKeyer(SECRET).key(Identity("VN-ID", P_NUMBER))


def key(name: str) -> str:
    return hashlib.md5(name.encode()).hexdigest()  # a stand-in subject key


A, B, C, D, E, G, Q, S2, X = (key(n) for n in ("A", "B", "C", "D", "E", "G", "Q", "S2", "X"))
START, END = datetime(2026, 3, 2, tzinfo=ICT), datetime(2026, 3, 7, tzinfo=ICT)


def at(day: int, clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return datetime(2026, 3, 1 + day, hour, minute, tzinfo=ICT)


# (who, venue, day, time, direction, decision)
SCENARIO = [
    # Hospital H (dwell 120), day 1. P 08:00-10:00.
    (P, "H", 1, "08:00", "in", "ACCEPT"),
    (P, "H", 1, "10:00", "out", "ACCEPT"),
    (A, "H", 1, "09:00", "in", "ACCEPT"),  # A 09:00-11:00: 60 min
    (A, "H", 1, "11:00", "out", "ACCEPT"),
    (B, "H", 1, "07:30", "in", "ACCEPT"),  # B no exit: 07:30-09:30 (dwell 120): 90 min
    (G, "H", 1, "08:10", "out", "ACCEPT"),  # G no entry: 06:10-08:10: 10 min
    (X, "H", 1, "08:30", "in", "DENY"),  # refused: no presence (would be 60 min)
    (X, "H", 1, "09:30", "out", "DENY"),
    (Q, "R", 1, "08:00", "in", "ACCEPT"),  # the same hours at another venue: no contact
    (Q, "R", 1, "10:00", "out", "ACCEPT"),
    # Market M (dwell 60), day 2: P twice, A twice: 20 + 15 = 35 min, one entry.
    (P, "M", 2, "10:00", "in", "ACCEPT"),
    (P, "M", 2, "10:30", "out", "ACCEPT"),
    (P, "M", 2, "17:00", "in", "ACCEPT"),
    (P, "M", 2, "17:45", "out", "ACCEPT"),
    (A, "M", 2, "10:10", "in", "ACCEPT"),  # 10:10-10:30: 20
    (A, "M", 2, "10:40", "out", "ACCEPT"),
    (A, "M", 2, "17:30", "in", "ACCEPT"),  # 17:30-17:45: 15
    (A, "M", 2, "18:00", "out", "ACCEPT"),
    # Factory F (dwell 480), across midnight: P day 3 22:00 to day 4 06:00.
    (P, "F", 3, "22:00", "in", "ACCEPT"),
    (P, "F", 4, "06:00", "out", "ACCEPT"),
    (C, "F", 3, "23:30", "in", "ACCEPT"),  # C 23:30-01:15: 105 min
    (C, "F", 4, "01:15", "out", "ACCEPT"),
    (D, "F", 4, "04:40", "in", "ACCEPT"),  # D no exit: 04:40-12:40: 80 min
    # Market M, day 5: P enters, no exit recorded: 09:00-10:00.
    (P, "M", 5, "09:00", "in", "ACCEPT"),
    # Restaurant R, day 5, without P: whom A and B met (second degree).
    (A, "R", 5, "12:00", "in", "ACCEPT"),
    (A, "R", 5, "13:00", "out", "ACCEPT"),
    (B, "R", 5, "12:05", "in", "ACCEPT"),
    (B, "R", 5, "12:50", "out", "ACCEPT"),
    (S2, "R", 5, "12:30", "in", "ACCEPT"),  # with A 12:30-13:00: 30; with B 12:30-12:50: 20 -> via A, 30
    (S2, "R", 5, "14:00", "out", "ACCEPT"),
    (E, "R", 5, "12:00", "in", "ACCEPT"),  # with A 12:00-12:20: 20; with B 12:05-12:20: 15 -> via A, 20
    (E, "R", 5, "12:20", "out", "ACCEPT"),
    (X, "R", 5, "12:00", "in", "DENY"),
    # Day 8, after the window: P and A together again, not counted.
    (P, "H", 8, "10:00", "in", "ACCEPT"),
    (P, "H", 8, "11:00", "out", "ACCEPT"),
    (A, "H", 8, "10:00", "in", "ACCEPT"),
    (A, "H", 8, "11:00", "out", "ACCEPT"),
]
VENUES = {"H": "hospital", "M": "market", "F": "factory", "R": "restaurant"}
P_VISITS = [  # venue, in, out, exit estimated
    ("H", at(1, "08:00"), at(1, "10:00"), False),
    ("M", at(2, "10:00"), at(2, "10:30"), False),
    ("M", at(2, "17:00"), at(2, "17:45"), False),
    ("F", at(3, "22:00"), at(4, "06:00"), False),
    ("M", at(5, "09:00"), at(5, "10:00"), True),
]
CONTACTS = [(C, "F", 105), (B, "H", 90), (D, "F", 80), (A, "H", 60), (A, "M", 35), (G, "H", 10)]


def add_scenario(engine: Engine) -> None:
    """The venues and passages, as the centre holds them: received an hour after they happened."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_unit(conn, "HN", "Hà Nội", None, now)
        ids = {code: add_venue(conn, code, f"Venue {code}", "HN", kind, now) for code, kind in VENUES.items()}
        rows = [
            event_row(who, ids[venue], at(day, clock), direction, decision, seq)
            for seq, (who, venue, day, clock, direction, decision) in enumerate(SCENARIO, start=1)
        ]
        conn.execute(events.insert(), rows)


def event_row(who: str, venue_id: int, moment: datetime, direction: str, decision: str, seq: int) -> dict[str, Any]:
    received = moment.astimezone(UTC) + timedelta(hours=1)
    return {
        "event_id": str(uuid.uuid4()),
        "received_day": received.date(),
        "device_id": None,
        "venue_id": venue_id,
        "boot_id": "boot-1",
        "seq": seq,
        "wall_time": moment.timestamp(),
        "mono_time": float(seq),
        "time": moment.astimezone(UTC),
        "time_synced": True,
        "received_at": received,
        "direction": direction,
        "kind": "cccd",
        "subject_key": who,
        "decision": decision,
        "reason": "logged" if decision == "ACCEPT" else "denylisted",
        "decoder": "zxing",
        "latency_ms": 4.0,
    }


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    add_scenario(engine)
    yield engine
    engine.dispose()


def found(contacts: list[Any]) -> list[tuple[str, str, float]]:
    return [(c.subject_key, c.venue, c.overlap_minutes) for c in contacts]


# The engine


def test_visits_pair_entries_and_exits_and_estimate_a_missing_exit(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, START, END)
    visits = [(v.venue, v.entered, v.left, v.exit_estimated) for v in result.visits]
    assert visits == P_VISITS
    assert [v.category for v in result.visits] == ["hospital", "market", "market", "factory", "market"]
    assert result.visits[3].minutes == 480  # across midnight
    assert not any(v.entry_estimated for v in result.visits)


def test_contacts_are_ranked_by_overlap_one_entry_per_person_and_venue(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, START, END)
    assert found(result.contacts) == CONTACTS
    market = next(c for c in result.contacts if (c.subject_key, c.venue) == (A, "M"))
    assert market.meetings == 2
    assert (market.first_overlap, market.last_overlap) == (at(2, "10:10"), at(2, "17:45"))
    assert {c.degree for c in result.contacts} == {1} and all(c.via is None for c in result.contacts)
    assert X not in {c.subject_key for c in result.contacts}  # refused at the gate: never present
    assert Q not in {c.subject_key for c in result.contacts}  # elsewhere at the time


def test_the_window_bounds_the_visits(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, at(2, "12:00"), at(3, "23:00"))
    assert [(v.venue, v.entered) for v in result.visits] == [("M", at(2, "17:00")), ("F", at(3, "22:00"))]
    assert found(result.contacts) == [(C, "F", 105), (D, "F", 80), (A, "M", 15)]  # whole visits, not clipped


def test_a_default_dwell_for_one_trace_replaces_every_category(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, START, END, default_dwell_min=30)
    # B 07:30-08:00 ends as P arrives: no contact. D 04:40-05:10: 30. G 07:40-08:10: 10.
    assert found(result.contacts) == [(C, "F", 105), (A, "H", 60), (A, "M", 35), (D, "F", 30), (G, "H", 10)]
    assert result.visits[-1].left == at(5, "09:30")


def test_a_dwell_set_for_a_category_applies_to_its_venues_only(engine: Engine) -> None:
    with engine.begin() as conn:
        set_dwell(conn, "hospital", 30)
    with engine.connect() as conn:
        result = trace(conn, P, START, END)
    # B at the hospital 07:30-08:00: gone; D at the factory keeps its 480 min; P's market visit its 60 min.
    assert found(result.contacts) == [(C, "F", 105), (D, "F", 80), (A, "H", 60), (A, "M", 35), (G, "H", 10)]
    assert result.visits[-1].left == at(5, "10:00")


def test_second_degree_contacts_come_through_the_first_degree_ones(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, START, END, second_degree=True)
    second = [(c.subject_key, c.venue, c.overlap_minutes, c.via) for c in result.contacts if c.degree == 2]
    assert second == [(S2, "R", 30, A), (E, "R", 20, A)]  # B is first degree itself; X was refused
    assert found(result.contacts) == [*CONTACTS[:5], (S2, "R", 30), (E, "R", 20), (G, "H", 10)]


def test_a_person_with_no_passages_has_no_visits_and_no_contacts(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, key("nobody"), START, END, second_degree=True)
    assert result.visits == [] and result.contacts == []


def test_json_and_csv(engine: Engine) -> None:
    with engine.connect() as conn:
        result = trace(conn, P, START, END)
    data = result.as_json()
    assert data["visits"][0] | {"in": None, "out": None} == {
        "venue": "H", "venue_name": "Venue H", "unit": "HN", "category": "hospital", "in": None, "out": None,
        "minutes": 120.0, "entry_estimated": False, "exit_estimated": False,
    }  # fmt: skip
    assert datetime.fromisoformat(data["visits"][3]["out"]) == at(4, "06:00")
    assert [(c["subject_key"], c["venue"], c["overlap_minutes"]) for c in data["contacts"]] == CONTACTS
    rows = list(csv.DictReader(io.StringIO(result.as_csv())))
    assert [r["record"] for r in rows] == ["visit"] * 5 + ["contact"] * 6
    assert (rows[5]["subject_key"], rows[5]["venue"], float(rows[5]["overlap_minutes"])) == CONTACTS[0]
    assert rows[4]["exit_estimated"] == "True"


def test_an_empty_or_reversed_window_and_a_bad_dwell_are_refused(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(TraceError, match="not before"):
        trace(conn, P, END, START)
    with engine.connect() as conn, pytest.raises(TraceError, match="1 to 1440 minutes"):
        trace(conn, P, START, END, default_dwell_min=0)


def test_window_texts_without_a_zone_are_local_and_default_to_14_days(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Ho_Chi_Minh")
    now = datetime(2026, 3, 20, 5, 0, tzinfo=UTC)
    assert window(None, None, now=now) == (now - timedelta(days=14), now)
    assert window("2026-03-02T08:00", "2026-03-03", now=now) == (at(1, "08:00"), at(2, "00:00"))
    assert window("2026-03-02T08:00Z", None, now=now)[0] == datetime(2026, 3, 2, 8, tzinfo=UTC)
    with pytest.raises(TraceError, match="not an ISO 8601 time"):
        window("yesterday", None, now=now)


# The second degree read in one go gives what contact by contact gave


def per_contact_second_degree(
    self: _Tracer, subject_key: str, first: dict[tuple[str, int], Any]
) -> list[tuple[tuple[str, int], tuple[Any, str]]]:
    """The second degree as it was first written, kept as the reference: each top contact's visits, then whom
    they met, one contact after the other (two SELECTs or more each)."""
    total: dict[str, float] = {}
    for (subject, _), tally in first.items():
        total[subject] = total.get(subject, 0.0) + tally.seconds
    top = sorted(total, key=lambda k: (-total[k], k))[:SECOND_DEGREE_TOP]
    exclude = {subject_key, *total}
    found: dict[tuple[str, int], tuple[Any, str]] = {}
    for via in top:
        for entry, tally in self.meet(self.visits_of(via), exclude).items():
            if entry not in found or tally.seconds > found[entry][0].seconds:
                found[entry] = (tally, via)
    return list(found.items())


CROWD_VENUES = {"H": "hospital", "M": "market", "F": "factory", "T": "hotel", "K": "checkpoint", "R": "restaurant"}
QUARTER = timedelta(minutes=15)  # times on a grid of 15 minutes: ties in overlaps, and visits that just touch


def crowd(seed: int, people: int = 45) -> list[tuple[str, str, datetime, str, str]]:
    """Random passages (who, venue, when, direction, decision) from 2 days before START to 2 days after END:
    people who keep to a few venues, stays of 5 minutes to 30 hours (longer than a visit can be), entries and
    exits missing, entries repeated, some refused."""
    rng = random.Random(seed)
    codes = list(CROWD_VENUES)
    rows: list[tuple[str, str, datetime, str, str]] = []
    for person in range(people):
        who = key(f"crowd-{seed}-{person}")
        usual = rng.sample(codes, 2)
        moment = START - timedelta(days=2) + rng.randrange(96) * QUARTER
        while moment < END + timedelta(days=2):
            venue = rng.choice(usual) if rng.random() < 0.8 else rng.choice(codes)
            left = moment + rng.choice([1, 2, 4, 8, 16, 32, 64, 120]) * QUARTER
            decision = "DENY" if rng.random() < 0.03 else "ACCEPT"
            shape = rng.random()
            if shape < 0.7 or decision == "DENY":
                rows += [(who, venue, moment, "in", decision), (who, venue, left, "out", decision)]
            elif shape < 0.82:
                rows.append((who, venue, moment, "in", decision))
            elif shape < 0.92:
                rows.append((who, venue, left, "out", decision))
            else:
                rows += [(who, venue, moment, "in", decision), (who, venue, moment + QUARTER, "in", decision)]
            moment = left + rng.randrange(1, 96) * QUARTER
    return rows


@pytest.fixture
def crowded(db_url: str) -> Iterator[tuple[Engine, list[str]]]:
    """Two crowds on one database; the people traced: the busiest of each, and a few at random."""
    engine = connect(db_url)
    rows = crowd(1) + crowd(2, people=60)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        add_unit(conn, "HN", "Hà Nội", None, now)
        ids = {code: add_venue(conn, code, f"Venue {code}", "HN", kind, now) for code, kind in CROWD_VENUES.items()}
        conn.execute(
            events.insert(),
            [
                event_row(who, ids[venue], moment, direction, decision, seq)
                for seq, (who, venue, moment, direction, decision) in enumerate(rows, start=1)
            ],
        )
    counts: dict[str, int] = {}
    for who, *_ in rows:
        counts[who] = counts.get(who, 0) + 1
    busiest = sorted(counts, key=lambda k: (-counts[k], k))
    yield engine, [busiest[0], busiest[1], *random.Random(3).sample(busiest[2:], 3)]
    engine.dispose()


def test_the_second_degree_read_at_once_is_the_one_read_contact_by_contact(
    crowded: tuple[Engine, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, people = crowded
    options: list[dict[str, Any]] = [
        {"now": END + timedelta(days=3)},
        {"now": START + timedelta(days=2, hours=5)},  # estimated exits cut at now
        {"now": END + timedelta(days=3), "default_dwell_min": MAX_DWELL_MIN},  # visits as long as they can be
        {"now": END + timedelta(days=3), "default_dwell_min": 5},
    ]
    faster, reference = [], []
    with engine.connect() as conn:
        for person in people:
            for option in options:
                faster.append(trace(conn, person, START, END, second_degree=True, **option).as_json())
        monkeypatch.setattr(_Tracer, "second_degree", per_contact_second_degree)
        for person in people:
            for option in options:
                reference.append(trace(conn, person, START, END, second_degree=True, **option).as_json())
    for new, old in zip(faster, reference, strict=True):
        assert new == old
    second = [c for result in reference for c in result["contacts"] if c["degree"] == 2]
    first_counts = [len({c["subject_key"] for c in r["contacts"] if c["degree"] == 1}) for r in reference]
    assert len(second) > 200 and len({c["via"] for c in second}) > 20  # the comparison compared something
    assert max(first_counts) > SECOND_DEGREE_TOP  # and some traces had more contacts than the second degree takes


def test_the_second_degree_reads_its_contacts_passages_in_a_few_selects(
    crowded: tuple[Engine, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, people = crowded
    selects: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if "FROM events" in statement:
            selects.append(statement)

    with engine.connect() as conn:
        listen(engine, "before_cursor_execute", count)
        result = trace(conn, people[0], START, END, second_degree=True, now=END)
        remove(engine, "before_cursor_execute", count)
        fast = len(selects)
        selects.clear()
        monkeypatch.setattr(_Tracer, "second_degree", per_contact_second_degree)
        listen(engine, "before_cursor_execute", count)
        trace(conn, people[0], START, END, second_degree=True, now=END)
        remove(engine, "before_cursor_execute", count)
    assert len({c.via for c in result.contacts if c.degree == 2}) == SECOND_DEGREE_TOP
    # first degree: the person's passages, then everyone's around them; second degree: the same, once each
    assert fast == 4
    assert len(selects) == 2 + 2 * SECOND_DEGREE_TOP


def test_passage_times_read_as_seconds_are_the_datetimes_seconds(engine: Engine) -> None:
    """PostgreSQL gives the seconds since the epoch itself (EXTRACT): to the microsecond what Python makes of the
    datetime it would read instead, or results would drift from what they were."""
    odd = [datetime(2026, 3, 2, 8, 0, 0, us, tzinfo=ICT) for us in (1, 123457, 499999, 500001, 999999)]
    odd += [datetime(1999, 12, 31, 23, 59, 59, 987654, tzinfo=UTC), datetime(2091, 7, 1, 0, 0, 0, 3, tzinfo=UTC)]
    with engine.begin() as conn:
        venue = conn.execute(select(events.c.venue_id).limit(1)).scalar_one()
        conn.execute(events.insert(), [event_row(A, venue, t, "in", "ACCEPT", 1000 + i) for i, t in enumerate(odd)])
    with engine.connect() as conn:
        rows = conn.execute(select(events.c.time, _seconds(conn))).all()
    assert len(rows) == len(SCENARIO) + len(odd)
    assert [seconds(t) for t, _ in rows] == [seconds(s) for _, s in rows]
    if engine.dialect.name == "postgresql":
        assert all(isinstance(s, float) for _, s in rows)


def seconds(value: datetime | float) -> float:
    """As central.tracevisits makes seconds of a datetime (SQLite's have no zone: UTC)."""
    if isinstance(value, float):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def test_ranges_of_several_people_are_merged_where_they_overlap_or_touch() -> None:
    assert merged([(2, 5, 9), (1, 0, 10), (2, 0, 5), (2, 10, 12), (1, 3, 4)]) == [(1, 0, 10), (2, 0, 9), (2, 10, 12)]


def test_presence_finds_who_overlaps_a_visit_and_the_overlaps_decide() -> None:
    visits = {
        "long": {1: [Span(1, 0, MAX_VISIT_S)]},  # began long before: found through the venue's longest visit
        "touch": {1: [Span(1, 90, 100)]},  # ends as the visit begins: not found
        "inside": {1: [Span(1, 110, 120), Span(1, 500, 600)]},
        "after": {1: [Span(1, 200, 300)]},  # begins as it ends
        "elsewhere": {2: [Span(2, 100, 200)]},
    }
    present = Presence(visits)
    assert sorted(present.around(1, [Span(1, 100, 200)])) == ["inside", "long"]
    assert present.around(1, [Span(1, 0, 50), Span(1, 550, 560)]) == ["long", "inside"]
    assert present.around(3, [Span(3, 0, 1e9)]) == []


# Pairing passages into visits (pure)

MIN = 60.0


def passages(*steps: tuple[float, str]) -> list[Passage]:
    return [Passage("k", 1, minutes * MIN, direction) for minutes, direction in steps]


def spans(*steps: tuple[float, str], dwell_min: float = 60, now_min: float = 1e9) -> list[tuple[float, float]]:
    return [(s.start / MIN, s.end / MIN) for s in pair(passages(*steps), dwell_min * MIN, now_min * MIN)]


def test_an_entrance_only_venue_gives_each_visit_the_dwell() -> None:
    assert spans((0, "in"), (100, "in"), (400, "in")) == [(0, 60), (100, 160), (400, 460)]


def test_an_entry_without_exit_ends_at_the_next_entry_and_a_repeated_scan_is_no_visit() -> None:
    assert spans((0, "in"), (10, "in"), (10, "in"), (20, "out")) == [(0, 10), (10, 20)]


def test_an_exit_without_entry_starts_dwell_earlier_but_not_before_the_visit_before() -> None:
    assert spans((0, "in"), (30, "out"), (50, "out"), (200, "out")) == [(0, 30), (30, 50), (140, 200)]


def test_an_exit_more_than_a_day_later_is_not_the_entrys_exit() -> None:
    day = MAX_VISIT_S / MIN
    assert spans((0, "in"), (day + 1, "out")) == [(0, 60), (day - 59, day + 1)]
    found = list(pair(passages((0, "in"), (day + 1, "out")), 3600, 1e12))
    assert [(s.start_estimated, s.end_estimated) for s in found] == [(False, True), (True, False)]
    assert spans((0, "in"), (day, "out")) == [(0, day)]


def test_an_estimated_exit_is_never_after_now() -> None:
    assert spans((0, "in"), dwell_min=60, now_min=25) == [(0, 25)]
    assert list(pair(passages((0, "in"), (5, "out")), 3600, 0)) == [Span(1, 0, 300)]  # a real exit is kept


def test_one_visit_of_a_contact_may_overlap_several_of_the_persons() -> None:
    mine = [Span(1, 0, 10), Span(1, 20, 30), Span(1, 40, 50)]
    assert list(overlaps(mine, [Span(1, 5, 25), Span(1, 30, 40), Span(1, 45, 99)])) == [(5, 10), (20, 25), (45, 50)]


def test_passages_are_read_a_maximum_visit_either_side_merged_per_venue() -> None:
    day = MAX_VISIT_S
    own = {2: [Span(2, 0, 10), Span(2, day, day + 10), Span(2, 5 * day, 5 * day + 10)], 1: [Span(1, 0, 10)]}
    assert ranges_around(own) == [(1, -day, day + 10), (2, -day, 2 * day + 10), (2, 4 * day, 6 * day + 10)]


# Who: an ID number, a QR code's text or picture


def test_a_number_a_code_and_a_picture_of_it_give_the_kiosks_key(tmp_path: Path) -> None:
    picture = tmp_path / "cccd.png"
    cv2.imwrite(str(picture), on_canvas(qr_image(CCCD_AN, scale=4)))
    assert subject_key_from(identity_number=P_NUMBER, secret=SECRET) == P
    assert subject_key_from(qr_text=CCCD_AN, secret=SECRET) == P
    assert subject_key_from(qr_text=PCCOVID_AN, secret=SECRET) == P
    assert subject_key_from(qr_image=picture, secret=SECRET) == P
    assert subject_key_from(qr_image=picture.read_bytes(), secret=SECRET) == P
    assert subject_key_from(subject_key=P.upper(), secret=b"") == P


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"identity_number": "12345"}, "not a 12-digit ID"),
        ({"qr_text": "hello, world"}, "holds no identity"),
        ({"qr_image": b"not an image"}, "not a readable image"),
        ({"subject_key": "xyz"}, "not a subject key"),
        ({}, "exactly one of"),
        ({"identity_number": P_NUMBER, "qr_text": CCCD_AN}, "exactly one of"),
    ],
)
def test_input_that_names_no_one_is_refused(given: dict[str, Any], message: str) -> None:
    with pytest.raises(SubjectError, match=message):
        subject_key_from(secret=SECRET, **given)


# The command line and the audit log


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "central.secret"
    path.write_text(SECRET.hex())
    path.chmod(0o600)
    return path


def run_central(db_url: str, secret_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "central", "--db", db_url, "--secret-file", str(secret_file), *args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_CENTRAL_")}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


WINDOW = ("--from", "2026-03-02T00:00", "--to", "2026-03-07T00:00+07:00")


def test_cli_trace_json_is_the_contract_and_is_audited(engine: Engine, db_url: str, secret_file: Path) -> None:
    done = run_central(db_url, secret_file, "trace", "--identity", P_NUMBER, *WINDOW, "--reason", "case 17", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    visits = [(v["venue"], datetime.fromisoformat(v["in"]), datetime.fromisoformat(v["out"])) for v in data["visits"]]
    assert visits == [(venue, entered, left) for venue, entered, left, _ in P_VISITS]
    assert all(v["in"].endswith("+07:00") for v in data["visits"])
    assert [v["exit_estimated"] for v in data["visits"]] == [False, False, False, False, True]
    assert [(c["subject_key"], c["venue"], c["overlap_minutes"]) for c in data["contacts"]] == CONTACTS
    with engine.connect() as conn:
        rows = conn.execute(select(audit_log)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.action, row.actor, row.subject, row.reason) == ("trace", cli_actor(), P, "case 17")
    assert row.detail["visits"] == 5 and row.detail["contacts"] == 6 and row.detail["by"] == "identity"
    assert P_NUMBER not in json.dumps(row.detail)


def test_cli_trace_from_a_picture_as_csv_with_options(engine: Engine, db_url: str, secret_file: Path) -> None:
    picture = secret_file.parent / "code.png"
    cv2.imwrite(str(picture), on_canvas(qr_image(PCCOVID_AN, scale=4)))
    args = ("trace", "--qr-image", str(picture), *WINDOW, "--default-dwell-min", "30", "--second-degree", "--csv")
    done = run_central(db_url, secret_file, *args)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    contacts = [(r["subject_key"], r["venue"], float(r["overlap_minutes"]), r["degree"]) for r in rows[5:]]
    # With 30 min of dwell B never overlaps P, so B is second degree: with A at R 12:05-12:50 (45), with G at
    # H 07:40-08:00 (20). Equal overlaps: first degree first, then by key.
    assert contacts == [
        (C, "F", 105, "1"), (A, "H", 60, "1"), (B, "R", 45, "2"), (A, "M", 35, "1"), (D, "F", 30, "1"),
        (S2, "R", 30, "2"), (E, "R", 20, "2"), (B, "H", 20, "2"), (G, "H", 10, "1"),
    ]  # fmt: skip
    assert [r["via"] for r in rows[5:] if r["degree"] == "2"] == [A, A, A, G]
    with engine.connect() as conn:
        detail = conn.execute(select(audit_log.c.detail)).scalar_one()
    assert detail["by"] == "qr-image" and detail["default_dwell_min"] == 30 and detail["second_degree"] is True


def invoke(db_url: str, secret_file: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--db", db_url, "--secret-file", str(secret_file), *args])


def test_cli_trace_prints_a_table_by_default(engine: Engine, db_url: str, secret_file: Path) -> None:
    done = invoke(db_url, secret_file, "trace", "--subject-key", P, *WINDOW)
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0].endswith("5 visits, 6 contacts")
    assert C in lines[7] and "105.0" in lines[7] and "F" in lines[7]


REFUSALS = [
    (["--identity", "0010900123"], "--identity: the identity number is not a 12-digit ID"),
    (["--qr-text", "hello"], "--qr-text: the QR code (unknown) holds no identity"),
    (["--qr-image", "missing.png"], "--qr-image: missing.png is not a readable image"),
    (["--subject-key", "abc"], "--subject-key: 'abc' is not a subject key"),
    (["--subject-key", P, "--from", "2026-03-05", "--to", "2026-03-04"], "--from 2026-03-05T00:00:00+07:00 is not"),
    (["--subject-key", P, "--from", "March 5"], "--from 'March 5': not an ISO 8601 time"),
    (["--subject-key", P, "--default-dwell-min", "2000"], "a default dwell is 1 to 1440 minutes"),
]


def test_cli_trace_refuses_bad_input_in_one_line_and_audits_nothing(
    engine: Engine, db_url: str, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Ho_Chi_Minh")
    for args, message in REFUSALS:  # one database for all: its set-up is the slow part on PostgreSQL
        done = invoke(db_url, secret_file, "trace", *args, "--json")
        assert done.exit_code == 1, (args, done.output)
        assert done.stderr.startswith(f"kiosk-central: {message}"), (args, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stdout == "", (args, done.stderr)
    with engine.connect() as conn:
        assert conn.execute(select(audit_log)).all() == []


def test_cli_trace_without_the_centres_secret_refuses_rather_than_making_one(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.secret"
    done = invoke(db_url, missing, "trace", "--identity", P_NUMBER)
    assert done.exit_code == 1 and "no subject-key secret there" in done.stderr
    assert not missing.exists()


def test_cli_trace_takes_exactly_one_person(engine: Engine, db_url: str, secret_file: Path) -> None:
    assert invoke(db_url, secret_file, "trace").exit_code == 2
    assert invoke(db_url, secret_file, "trace", "--subject-key", P, "--identity", P_NUMBER).exit_code == 2


def test_cli_dwell_set_and_list(engine: Engine, db_url: str, secret_file: Path) -> None:
    assert invoke(db_url, secret_file, "dwell", "set", "market", "45", "--reason", "survey").exit_code == 0
    listed = invoke(db_url, secret_file, "dwell", "list", "--json")
    assert json.loads(listed.stdout)["market"] == 45 and json.loads(listed.stdout)["hospital"] == 120
    assert "market          45 min (default 60)" in invoke(db_url, secret_file, "dwell", "list").stdout
    assert invoke(db_url, secret_file, "dwell", "set", "market", "0").exit_code == 2
    with engine.connect() as conn:
        row = conn.execute(select(audit_log)).one()
    assert (row.action, row.subject, row.reason, row.detail) == ("dwell-set", "market", "survey", {"minutes": 45})
