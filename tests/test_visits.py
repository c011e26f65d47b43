"""Visits at the centre and who is inside a venue (central/visits.py, docs/access-list.md): the kiosks' upload,
POST /api/v1/visits (held once, strictly checked), the roll call of a factory day in local time, the visits of a
day, `kiosk-central visits`, and the audit log of every look-up. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
import time as clock
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from central_fixtures import (
    CentralServer,
    DeviceClient,
    FakeClock,
    add_unit,
    add_venue,
    device_time,
    enrolled_device,
    make_event,
    new_enroll_code,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, event, select, text
from test_central_cli import Run, central, refused  # noqa: F401 (the fixture)

from central.admin import revoke_device
from central.db import connect
from central.devices import Device, enroll
from central.errors import NotFound
from central.ingest import ingest
from central.models import DeviceTime, EventIn, VisitIn
from central.people import import_groups, import_people
from central.schema import audit_log, events, visits
from central.visitingest import hold_visits
from central.visits import Inside, VisitsError, inside, open_visits, roll_call_time

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
DAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 20, 0, tzinfo=ZONE)  # the centre's clock: the evening of the factory day
STAFF, NIGHT, FITTER, VISITOR, GUEST, COURIER, LATE, EARLY = (f"{n:x}" * 32 for n in range(1, 9))
GROUPS = "name,windows\nstaff,Mon-Sun 00:00-24:00\ncontractors,Mon-Sun 00:00-24:00\n"
PEOPLE = f"subject_key,groups\n{STAFF},staff\n{NIGHT},staff\n{FITTER},contractors staff\n"


@pytest.fixture(autouse=True)
def hanoi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_CENTRAL_TZ", "Asia/Ho_Chi_Minh")


def local(hhmm: str, day: date = DAY) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime.combine(day, time(int(hours), int(minutes)), ZONE)


# The kiosks' upload: POST /api/v1/visits


@pytest.fixture
def server(db_url: str) -> Iterator[CentralServer]:
    with CentralServer(db_url, clock=FakeClock(NOW.astimezone(UTC))) as central_server:
        yield central_server


def a_visit(**fields: Any) -> dict[str, Any]:
    """A visit as a kiosk uploads it; `fields` override the rest."""
    visit = {
        "visit_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "subject_key": VISITOR,
        "opened_at": local("09:00").timestamp(),
        "host": "Phòng Nhân sự",
        "purpose": "Phỏng vấn",
        "id_tail": "2345",
    }
    return visit | fields


def send(device: DeviceClient, batch: list[dict[str, Any]], **kwargs: Any) -> requests.Response:
    return device.post("/api/v1/visits", {"visits": batch}, headers=device.auth_header(), **kwargs)


def stored(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(visits).order_by(visits.c.opened_at, visits.c.visit_id)))


def test_a_visit_is_held_at_the_devices_venue_with_what_the_kiosk_said(server: CentralServer):
    device = enrolled_device(server, "V1")
    visit = a_visit()
    answer = send(device, [visit])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"held": [visit["visit_id"]]}
    (row,) = stored(server.engine)
    assert (row.visit_id, row.event_id, row.device_id, row.subject_key) == (
        visit["visit_id"],
        visit["event_id"],
        device.device_id,
        VISITOR,
    )
    assert (row.host, row.purpose, row.id_tail) == ("Phòng Nhân sự", "Phỏng vấn", "2345")
    assert as_utc(row.opened_at) == local("09:00") and as_utc(row.received_at) == NOW  # no event: its wall time
    with server.engine.connect() as conn:
        venue = conn.execute(text("SELECT id FROM venues WHERE code = 'V1'")).scalar_one()
    assert row.venue_id == venue


def test_a_visit_sent_again_is_held_once_and_the_first_copy_is_kept(server: CentralServer):
    device = enrolled_device(server, "V1")
    first, second = a_visit(), a_visit(subject_key=GUEST, id_tail=None)
    assert send(device, [first]).json() == {"held": [first["visit_id"]]}
    changed = first | {"host": "Kho", "purpose": "Giao hàng", "id_tail": "9999"}
    again = send(device, [second, changed, second])  # the lost answer's batch, resent, and one twice in it
    assert again.status_code == 200 and again.json() == {"held": [second["visit_id"], first["visit_id"]]}
    rows = {row.visit_id: row for row in stored(server.engine)}
    assert len(rows) == 2 and rows[first["visit_id"]].host == "Phòng Nhân sự"
    assert rows[first["visit_id"]].id_tail == "2345" and rows[second["visit_id"]].id_tail is None
    third = a_visit(subject_key=COURIER)
    assert send(device, [third, third | {"host": "Kho"}]).json() == {"held": [third["visit_id"]]}  # one batch
    assert [row.host for row in stored(server.engine) if row.subject_key == COURIER] == ["Phòng Nhân sự"]
    assert send(device, []).json() == {"held": []}


def test_without_a_good_token_nothing_is_held(server: CentralServer):
    device, other = enrolled_device(server, "V1"), enrolled_device(server, "V1", name="gate-2")
    stranger = DeviceClient(server.url)
    assert send(stranger, [a_visit()]).status_code == 401
    stranger.token = "not-a-token-" + "x" * 30
    assert send(stranger, [a_visit()]).status_code == 401
    with server.engine.begin() as conn:
        revoke_device(conn, device.device_id, server.clock())
    assert send(device, [a_visit()]).status_code == 403
    server.clock.advance(16 * 60)  # type: ignore[attr-defined]  # the token has expired
    assert send(other, [a_visit()]).status_code == 401
    assert stored(server.engine) == []


BAD: dict[str, dict[str, Any]] = {
    "visit id not a UUID": {"visit_id": "visit-1"},
    "event id in capitals": {"event_id": str(uuid.uuid4()).upper()},
    "subject key too short": {"subject_key": "abc"},
    "subject key in capitals": {"subject_key": "A" * 32},
    "no host": {"host": ""},
    "host of 81 letters": {"host": "ệ" * 81},
    "purpose of 81 letters": {"purpose": "x" * 81},
    "NUL in the purpose": {"purpose": "Giao\x00hàng"},
    "ID tail of 5 digits": {"id_tail": "12345"},
    "ID tail of letters": {"id_tail": "abcd"},
    "opened_at as text": {"opened_at": "1765072800"},
    "opened_at negative": {"opened_at": -1.0},
    "opened_at beyond 2106": {"opened_at": 2.0**40},
    "opened_at true": {"opened_at": True},
    "host a number": {"host": 5},
    "a field the centre does not know": {"name": "Nguyễn Văn An"},
}


@pytest.mark.parametrize("change", list(BAD.values()), ids=list(BAD))
def test_a_malformed_visit_is_refused_with_422_and_nothing_is_held(server: CentralServer, change: dict[str, Any]):
    device = enrolled_device(server, "V1")
    good = a_visit()
    answer = send(device, [good, a_visit() | change])
    assert answer.status_code == 422, answer.text
    assert stored(server.engine) == []


@pytest.mark.parametrize(
    "body",
    [{}, {"visits": "none"}, {"visits": [], "device_time": {}}, {"visits": [a_visit() for _ in range(501)]}],
    ids=["no visits", "visits not a list", "an extra field", "501 visits"],
)
def test_a_malformed_body_is_refused(server: CentralServer, body: dict[str, Any]):
    device = enrolled_device(server, "V1")
    answer = device.post("/api/v1/visits", body, headers=device.auth_header())
    assert answer.status_code == 422 and stored(server.engine) == []


def test_500_visits_of_long_vietnamese_text_fit_in_one_request(server: CentralServer):
    device = enrolled_device(server, "V1")
    batch = [a_visit(host="Phòng Kỹ thuật " + "ệ" * 65, purpose="Bảo dưỡng " + "ữ" * 70) for _ in range(500)]
    body = json.dumps({"visits": batch})  # escaped: \u1ec7 is 6 bytes a letter, as Python's kiosk sends it
    assert len(body) > 500_000
    headers = {"Content-Type": "application/json", **device.auth_header()}
    answer = device.session.post(server.url + "/api/v1/visits", data=body, headers=headers, timeout=60)
    assert answer.status_code == 200 and len(answer.json()["held"]) == 500
    too_big = device.session.post(server.url + "/api/v1/visits", data=" " * (2 << 20), headers=headers, timeout=60)
    assert too_big.status_code == 413


def test_a_visit_takes_its_events_corrected_time_when_the_kiosk_clock_was_wrong(server: CentralServer):
    """A Raspberry Pi without a network clock: its wall clock says 1 January 2026; the event's monotonic time,
    within the same boot as the upload, gives the real time, and the visit takes it."""
    device = enrolled_device(server, "V1")
    wrong = datetime(2026, 1, 1, 8, 0, tzinfo=UTC).timestamp()
    opened = make_event(
        wall_time=wrong, mono_time=1_000.0, clock_synced=False, subject_key=VISITOR, reason="visit-opened"
    )
    upload_clock = device_time(wall=wrong + 3_600, mono=4_600.0, synced=False)  # an hour after the visit
    assert device.upload([opened], clock=upload_clock).status_code == 200
    visit = a_visit(event_id=opened["event_id"], opened_at=wrong)
    assert send(device, [visit]).status_code == 200
    (row,) = stored(server.engine)
    assert as_utc(row.opened_at) == NOW - timedelta(hours=1)  # the server's clock at the upload, less an hour


def test_another_venues_event_or_another_persons_does_not_set_the_time(server: CentralServer):
    here, there = enrolled_device(server, "V1"), enrolled_device(server, "V2")
    theirs = make_event(wall_time=local("08:00").timestamp(), subject_key=VISITOR, reason="visit-opened")
    someone_else = make_event(wall_time=local("08:30").timestamp(), subject_key=GUEST, reason="visit-opened")
    assert there.upload([theirs]).status_code == 200 and here.upload([someone_else]).status_code == 200
    batch = [a_visit(event_id=theirs["event_id"]), a_visit(event_id=someone_else["event_id"])]
    assert send(here, batch).status_code == 200
    assert [as_utc(row.opened_at) for row in stored(server.engine)] == [local("09:00"), local("09:00")]


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# Who is inside: a factory's day


@dataclass
class Factory:
    """Venue F1 (access mode) with its staff and contractors enrolled, a gate, and venue F2 next door."""

    engine: Engine
    gate: Device
    next_door: Device
    seq: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    def passages(self, *moves: tuple[str, str, str], gate: Device | None = None, **fields: Any) -> list[str]:
        """(who, HH:MM or an aware time, "in"/"out") each, ACCEPTed unless `fields` say otherwise."""
        batch = [self.event(who, at, direction, **fields) for who, at, direction in moves]
        self.ingest(batch, gate or self.gate)
        return [e.event_id for e in batch]

    def event(self, who: str, at: str | datetime, direction: str, **fields: Any) -> EventIn:
        moment = local(at) if isinstance(at, str) else at
        reason = "exit-ok" if direction == "out" else "access-ok"
        data = make_event(seq=next(self.seq), wall_time=moment.timestamp(), direction=direction, subject_key=who)
        return EventIn.model_validate(data | {"reason": reason} | fields)

    def ingest(self, batch: list[EventIn], gate: Device) -> None:
        with self.engine.begin() as conn:
            ingest(conn, gate, DeviceTime.model_validate(device_time()), batch, NOW.astimezone(UTC))

    def visit(self, who: str, hhmm: str, host: str, purpose: str, id_tail: str | None = None) -> str:
        """The guard opens a visit: its event, then the visit (as the kiosk uploads them)."""
        (event_id,) = self.passages((who, hhmm, "in"), reason="visit-opened")
        visit = VisitIn.model_validate(
            a_visit(event_id=event_id, subject_key=who, opened_at=local(hhmm).timestamp(), host=host, purpose=purpose)
            | {"id_tail": id_tail}
        )
        with self.engine.begin() as conn:
            hold_visits(conn, self.gate, [visit], NOW.astimezone(UTC))
        return visit.visit_id

    def inside(self, at: str | datetime, venue: str = "F1") -> Inside:
        with self.engine.connect() as conn:
            return inside(conn, venue, local(at) if isinstance(at, str) else at)


def a_gate(engine: Engine, venue: str) -> Device:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with engine.begin() as conn:
        return enroll(conn, new_enroll_code(engine, venue), base64.b64encode(raw).decode(), "gate", datetime.now(UTC))


@pytest.fixture
def factory(db_url: str) -> Iterator[Factory]:
    engine = connect(db_url)
    add_unit(engine, "HN")
    add_venue(engine, "F1", "HN", "factory")
    add_venue(engine, "F2", "HN", "factory")
    enrol(engine)
    yield Factory(engine, a_gate(engine, "F1"), a_gate(engine, "F2"))
    engine.dispose()


@pytest.fixture
def day(factory: Factory) -> Factory:
    return factory_day(factory)


def enrol(engine: Engine, venue: str = "F1") -> None:
    """The factory's groups (staff, contractors) and people (STAFF, NIGHT, FITTER)."""
    with engine.begin() as conn:
        import_groups(conn, venue, GROUPS.encode(), actor="test", now=NOW)
        import_people(conn, venue, PEOPLE.encode(), secret=None, actor="test", now=NOW)


def factory_day(factory: Factory) -> Factory:
    """07:00 staff in; 08:00 a contractor in (out at 12:00, back at 13:00); 09:00 a visitor for HR (out at 11:00);
    10:00 a guest for the store, still inside; 07:30 the night shift's last in (out at 17:30); 14:00 a courier
    (a pass, not enrolled); a refused stranger; someone in just before midnight and someone just after it."""
    factory.passages(
        (LATE, local("23:50", DAY - timedelta(days=1)), "in"),  # yesterday, local: 16:50 UTC on the 6th
        (EARLY, "00:10", "in"),  # today, local: 17:10 UTC on the 6th
        (STAFF, "07:00", "in"),
        (NIGHT, "07:30", "in"),
        (FITTER, "08:00", "in"),
    )
    factory.visit(VISITOR, "09:00", "Phòng Nhân sự", "Phỏng vấn", "2345")
    factory.visit(GUEST, "10:00", "Kho", "Giao hàng", "0042")
    factory.passages(("b" * 32, "10:30", "in"), decision="DENY", reason="not-enrolled")
    factory.passages((VISITOR, "11:00", "out"), (FITTER, "12:00", "out"), (FITTER, "13:00", "in"))
    factory.passages((COURIER, "14:00", "in"), reason="ticket-ok")
    factory.passages((NIGHT, "17:30", "out"))
    factory.passages((STAFF, "15:00", "out"), gate=factory.next_door)  # another venue's gate: not this one's
    return factory


def people(found: Inside) -> dict[str, tuple[str, str]]:
    """Each one inside: (kind, since as local HH:MM)."""
    return {p.subject_key: (p.kind, p.since.astimezone(ZONE).strftime("%H:%M")) for p in found.people}


def test_the_six_oclock_roll_call(day: Factory):
    found = day.inside("18:00")
    assert people(found) == {
        GUEST: ("visitor", "10:00"),
        STAFF: ("enrolled", "07:00"),
        FITTER: ("enrolled", "13:00"),  # out and back in: since they came back
        EARLY: ("other", "00:10"),
        COURIER: ("other", "14:00"),
    }
    assert found.counts == {"inside": 5, "visitor": 1, "enrolled": 2, "other": 2}
    assert [p.subject_key for p in found.people] == [GUEST, FITTER, STAFF, EARLY, COURIER]  # kind, group, time
    (guest,) = found.of("visitor")
    assert guest.visit is not None and (guest.visit.host, guest.visit.purpose, guest.visit.id_tail) == (
        "Kho",
        "Giao hàng",
        "0042",
    )
    assert guest.visit.opened_at == local("10:00") and guest.visit.closed_at is None
    groups = {p.subject_key: p.groups for p in found.of("enrolled")}
    assert groups == {STAFF: ("staff",), FITTER: ("contractors", "staff")}


def test_half_past_ten_both_visitors_and_the_night_shift_are_inside(day: Factory):
    found = day.inside("10:30")
    assert people(found) == {
        VISITOR: ("visitor", "09:00"),
        GUEST: ("visitor", "10:00"),
        STAFF: ("enrolled", "07:00"),
        NIGHT: ("enrolled", "07:30"),
        FITTER: ("enrolled", "08:00"),
        EARLY: ("other", "00:10"),
    }
    assert found.counts["visitor"] == 2


def test_a_passage_exactly_at_the_time_counts_and_one_a_minute_later_does_not(day: Factory):
    assert VISITOR not in people(day.inside("11:00"))
    assert VISITOR in people(day.inside(local("11:00") - timedelta(seconds=1)))
    assert people(day.inside("00:09")) == {}
    assert people(day.inside("00:10")) == {EARLY: ("other", "00:10")}


def test_the_day_is_the_local_day(day: Factory):
    """23:50 yesterday and 00:10 today are the same UTC day (the 6th): only the second is today's, in Hanoi."""
    assert LATE not in people(day.inside("18:00"))
    assert people(day.inside(local("23:59", DAY - timedelta(days=1)))) == {LATE: ("other", "23:50")}
    tomorrow = day.inside(local("06:00", DAY + timedelta(days=1)))
    assert tomorrow.people == ()  # a new day: no one has come in yet, whoever stayed the night
    assert tomorrow.as_json()["day"] == "2026-12-08"


def test_another_venue_has_its_own_roll_call(day: Factory):
    day.passages((STAFF, "06:00", "in"), gate=day.next_door)
    assert people(day.inside("18:00", venue="F2")) == {}  # in at 06:00, out at 15:00
    assert people(day.inside("12:00", venue="F2")) == {STAFF: ("other", "06:00")}  # F1's groups are not F2's
    with pytest.raises(NotFound), day.engine.connect() as conn:
        inside(conn, "NOPE", NOW)


def test_a_visit_counts_before_its_event_reaches_the_centre(factory: Factory):
    """The visit came first (a kiosk that sent its events late): the visitor is inside from the visit's time."""
    with factory.engine.begin() as conn:
        hold_visits(conn, factory.gate, [VisitIn.model_validate(a_visit(subject_key=VISITOR))], NOW.astimezone(UTC))
    assert people(factory.inside("12:00")) == {VISITOR: ("visitor", "09:00")}
    factory.passages((VISITOR, "11:30", "out"))
    assert people(factory.inside("12:00")) == {}
    assert people(factory.inside("11:00")) == {VISITOR: ("visitor", "09:00")}


def test_an_enrolled_person_on_an_open_visit_is_counted_once_as_a_visitor(factory: Factory):
    factory.visit(STAFF, "09:00", "Ban Giám đốc", "Họp", None)
    found = factory.inside("12:00")
    assert people(found) == {STAFF: ("visitor", "09:00")} and found.counts["inside"] == 1
    assert found.people[0].visit is not None and found.people[0].visit.id_tail is None


def test_a_visitor_who_left_and_came_back_on_a_new_visit_shows_the_new_one(factory: Factory):
    factory.visit(VISITOR, "09:00", "Phòng Nhân sự", "Phỏng vấn", "2345")
    factory.passages((VISITOR, "10:00", "out"))
    factory.visit(VISITOR, "14:00", "Kho", "Nhận hàng", "2345")
    (visitor,) = factory.inside("15:00").people
    assert visitor.visit is not None and (visitor.visit.host, visitor.since) == ("Kho", local("14:00"))
    assert people(factory.inside("12:00")) == {}


def test_the_days_visits_with_when_each_closed(day: Factory):
    day.visit(VISITOR, "23:59", "Bảo vệ", "Quên đồ", None)
    day.passages((VISITOR, local("00:20", DAY + timedelta(days=1)), "out"))  # closes the next day
    with day.engine.connect() as conn:
        listed = open_visits(conn, "F1", DAY)
        assert open_visits(conn, "F1", DAY + timedelta(days=1)) == []
    shown = [(v.host, v.opened_at.astimezone(ZONE).strftime("%H:%M"), v.closed_at) for v in listed]
    assert shown == [
        ("Phòng Nhân sự", "09:00", local("11:00")),
        ("Kho", "10:00", None),
        ("Bảo vệ", "23:59", local("00:20", DAY + timedelta(days=1))),
    ]
    assert listed[0].as_json()["closed_at"] == "2026-12-07T04:00:00+00:00"


def test_a_refused_passage_out_does_not_close_a_visit(factory: Factory):
    factory.visit(VISITOR, "09:00", "Phòng Nhân sự", "Phỏng vấn", "2345")
    factory.passages((VISITOR, "11:00", "out"), decision="DENY", reason="anti-passback")
    assert people(factory.inside("12:00")) == {VISITOR: ("visitor", "09:00")}
    with factory.engine.connect() as conn:
        assert open_visits(conn, "F1", DAY)[0].closed_at is None


def test_roll_call_times_as_people_give_them():
    now = datetime(2026, 12, 7, 20, 30, tzinfo=UTC)  # 03:30 on the 8th in Hanoi
    assert roll_call_time(None, now) == now and roll_call_time(" ", now) == now
    assert roll_call_time("18:00", now) == datetime(2026, 12, 8, 18, 0, tzinfo=ZONE)  # today is the local day
    assert roll_call_time("7:05", now) == datetime(2026, 12, 8, 7, 5, tzinfo=ZONE)
    assert roll_call_time("2026-12-07T18:00", now) == local("18:00")
    assert roll_call_time("2026-12-07T18:00+00:00", now) == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    for wrong in ("24:00", "18h", "hôm qua", "18:00\x00"):
        with pytest.raises(VisitsError, match="not a time"):
            roll_call_time(wrong, now)


def test_a_day_of_50000_passages_is_read_through_the_venue_time_index(factory: Factory, db_url: str):
    """2,000 people through the gates all day, 25 passages each, and half of them still inside at the end; the next
    venue's day beside it."""
    rows = []
    start = local("06:00").astimezone(UTC)
    for n in range(50_000):
        who, rounds = f"{n % 2000:032x}", n // 2000  # in, out, in, ... and a last in for the first 1,000
        direction = "in" if rounds % 2 == 0 and not (rounds == 24 and n % 2000 >= 1000) else "out"
        rows.append(event_row(who, factory.gate.venue_id, start + timedelta(seconds=n), direction, n))
        if n % 10 == 0:
            rows.append(event_row(who, factory.next_door.venue_id, start + timedelta(seconds=n), "in", n))
    with factory.engine.begin() as conn:
        conn.execute(events.insert(), rows)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(factory.engine, "before_cursor_execute", seen)
    began = clock.perf_counter()
    found = factory.inside("23:00")
    took = clock.perf_counter() - began
    event.remove(factory.engine, "before_cursor_execute", seen)
    assert found.counts == {"inside": 1000, "visitor": 0, "enrolled": 0, "other": 1000}
    assert took < 20, took  # a second or two on a loaded machine: a bound that catches a query per person
    assert len(statements) <= 6, [s for s, _ in statements]  # the venue, the day, the visits, the groups (2 chunks)
    if db_url.startswith("sqlite"):
        ((query, parameters),) = [(s, p) for s, p in statements if "row_number" in s.lower()]
        with factory.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query, parameters))
        assert re.search(r"INDEX events_venue_(time|presence) \(venue_id=", plan), plan


def event_row(who: str, venue_id: int, moment: datetime, direction: str, seq: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "received_day": moment.date(),
        "device_id": None,
        "venue_id": venue_id,
        "boot_id": "boot-1",
        "seq": seq,
        "wall_time": moment.timestamp(),
        "mono_time": float(seq),
        "time": moment,
        "time_synced": True,
        "received_at": moment,
        "direction": direction,
        "kind": "cccd",
        "subject_key": who,
        "decision": "ACCEPT",
        "reason": "access-ok",
        "decoder": "zxing",
        "latency_ms": 5.0,
    }


# kiosk-central visits, and the audit log


def audited(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)))


def test_the_command_line_roll_call(central: Run, day: Factory):  # noqa: F811
    shown = central("visits", "inside", "F1", "--at", "2026-12-07T18:00", "--json", "--reason", "fire drill")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert (document["venue"], document["day"], document["at"]) == ("F1", "2026-12-07", "2026-12-07T11:00:00+00:00")
    assert document["counts"] == {"inside": 5, "visitor": 1, "enrolled": 2, "other": 2}
    guest = document["people"][0]
    assert (guest["kind"], guest["subject_key"], guest["since"]) == ("visitor", GUEST, "2026-12-07T03:00:00+00:00")
    assert guest["visit"] | {"visit_id": "-"} == {
        "visit_id": "-",
        "subject_key": GUEST,
        "device_id": day.gate.id,
        "host": "Kho",
        "purpose": "Giao hàng",
        "id_tail": "0042",
        "opened_at": "2026-12-07T03:00:00+00:00",
        "closed_at": None,
    }
    assert document["people"][1] == {
        "subject_key": FITTER,
        "since": "2026-12-07T06:00:00+00:00",
        "kind": "enrolled",
        "groups": ["contractors", "staff"],
    }
    text = central("visits", "inside", "F1", "--at", "2026-12-07T18:00").stdout
    assert "F1 Venue F1 at 2026-12-07 18:00: 5 inside" in text and "1 visitors, 2 enrolled, 2 other" in text
    assert f"10:00  {GUEST}  visitor   Kho / Giao hàng  ID ****0042" in text
    assert f"13:00  {FITTER}  enrolled  contractors, staff" in text and f"14:00  {COURIER}  other" in text
    first, second = audited(day.engine, "visits-inside")
    assert first.actor.startswith("cli:") and (first.subject, first.reason) == ("F1", "fire drill")
    assert first.detail == {"at": "2026-12-07T11:00:00+00:00", "counts": document["counts"]}
    assert second.reason == "(no reason given)"


def test_the_command_line_takes_a_time_of_today_and_says_now_by_default(central: Run, factory: Factory):  # noqa: F811
    today = datetime.now(ZONE).date()
    factory.passages((STAFF, local("06:00", today), "in"))
    morning = json.loads(central("visits", "inside", "F1", "--at", "06:00", "--json").stdout)
    assert morning["day"] == today.isoformat() and morning["counts"]["enrolled"] == 1
    assert json.loads(central("visits", "inside", "F1", "--at", "05:59", "--json").stdout)["counts"]["inside"] == 0
    now = json.loads(central("visits", "inside", "F1", "--json").stdout)
    assert abs(datetime.fromisoformat(now["at"]) - datetime.now(UTC)) < timedelta(minutes=5)


def test_the_command_line_lists_a_days_visits(central: Run, day: Factory):  # noqa: F811
    listed = central("visits", "list", "F1", "--day", "2026-12-07", "--json")
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert (document["venue"], document["day"]) == ("F1", "2026-12-07")
    assert [(v["host"], v["closed_at"]) for v in document["visits"]] == [
        ("Phòng Nhân sự", "2026-12-07T04:00:00+00:00"),
        ("Kho", None),
    ]
    text = central("visits", "list", "F1", "--day", "2026-12-07").stdout
    assert "F1 on 2026-12-07: 2 visits, 1 open" in text
    assert "09:00  2026-12-07 11:00  Phòng Nhân sự / Phỏng vấn  ID ****2345" in text
    assert "10:00  open              Kho / Giao hàng  ID ****0042" in text
    assert json.loads(central("visits", "list", "F1", "--day", "2026-12-08", "--json").stdout)["visits"] == []
    entries = audited(day.engine, "visits-list")
    assert [(e.subject, e.detail) for e in entries] == [
        ("F1", {"day": "2026-12-07", "visits": 2}),
        ("F1", {"day": "2026-12-07", "visits": 2}),
        ("F1", {"day": "2026-12-08", "visits": 0}),
    ]


def test_the_command_line_refuses_with_1_saying_why(central: Run, factory: Factory):  # noqa: F811
    assert "--at 'soon' is not a time" in refused(central("visits", "inside", "F1", "--at", "soon"))
    assert "--day '07/12/2026' is not a day" in refused(central("visits", "list", "F1", "--day", "07/12/2026"))
    assert "no venue NOPE" in refused(central("visits", "inside", "NOPE"))
    assert "no venue NOPE" in refused(central("visits", "list", "NOPE"))
    assert audited(factory.engine, "visits-inside") == [] and audited(factory.engine, "visits-list") == []


def test_visits_go_with_the_events_retention(factory: Factory):
    """PRIVACY.md: a visit keeps a subject key and the ID number's last digits; it goes when its events would."""
    from central.maintenance import Maintenance

    old, new = (VisitIn.model_validate(a_visit(subject_key=who)) for who in (VISITOR, GUEST))
    with factory.engine.begin() as conn:
        hold_visits(conn, factory.gate, [old], NOW.astimezone(UTC) - timedelta(days=31))
        hold_visits(conn, factory.gate, [new], NOW.astimezone(UTC) - timedelta(days=29))
    assert Maintenance(factory.engine, None, clock=lambda: NOW).run_once().visits == 0
    assert len(stored(factory.engine)) == 2
    assert Maintenance(factory.engine, 30, clock=lambda: NOW).run_once().visits == 1
    assert [row.subject_key for row in stored(factory.engine)] == [GUEST]
