"""Ingest stores an event once, whatever venue sends it (central/ingest.py).

Since migration 0016 a claim in `event_keys` is keyed by (event id, venue), as Citus needs of a table distributed
by venue; the promise stays national. The case that needs it is real: a kiosk enrolled again at another venue keeps
its key and its store, and uploads, as its new device at its new venue, every event it has not seen answered, a
batch the centre stored just before the move among them (its answer lost). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from central_fixtures import add_unit, add_venue, device_time, make_events, new_enroll_code
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, func, select

from central.db import connect
from central.devices import Device, enroll
from central.eventsio import export_events, import_events
from central.ingest import ingest
from central.models import DeviceTime, EventIn
from central.schema import event_keys, events, venue_days, venues

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    add_unit(engine)
    add_venue(engine, "V1")
    add_venue(engine, "V2")
    yield engine
    engine.dispose()


def enrolled(engine: Engine, venue: str, key: Ed25519PrivateKey) -> Device:
    """The kiosk holding `key`, enrolled at `venue` (again: the kiosk keeps its key, the centre makes a device)."""
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with engine.begin() as conn:
        return enroll(conn, new_enroll_code(engine, venue), base64.b64encode(raw).decode(), "gate", NOW)


def upload(engine: Engine, device: Device, batch: list[EventIn]) -> list[str]:
    with engine.begin() as conn:
        return ingest(conn, device, DeviceTime.model_validate(device_time(wall=NOW.timestamp())), batch, NOW)


def stored(engine: Engine) -> dict[str, list[tuple[str, str | None]]]:
    """Each id in `events`: the venue code and device of every copy."""
    query = select(events.c.event_id, venues.c.code, events.c.device_id).join(venues, venues.c.id == events.c.venue_id)
    found: dict[str, list[tuple[str, str | None]]] = {}
    with engine.connect() as conn:
        for event_id, venue, device in conn.execute(query):
            found.setdefault(event_id, []).append((venue, device))
    return found


def claims(engine: Engine) -> dict[str, list[str]]:
    query = select(event_keys.c.event_id, venues.c.code).join(venues, venues.c.id == event_keys.c.venue_id)
    found: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for event_id, venue in conn.execute(query):
            found.setdefault(event_id, []).append(venue)
    return found


def scans(engine: Engine) -> dict[str, int]:
    query = (
        select(venues.c.code, func.sum(venue_days.c.scans))
        .join(venues, venues.c.id == venue_days.c.venue_id)
        .group_by(venues.c.code)
    )
    with engine.connect() as conn:
        return {code: int(total) for code, total in conn.execute(query)}


def test_a_batch_sent_again_after_the_kiosk_moved_venue_is_stored_once(engine: Engine) -> None:
    key = Ed25519PrivateKey.generate()
    before = enrolled(engine, "V1", key)
    first = [EventIn.model_validate(e) for e in make_events(3)]
    assert upload(engine, before, first) == [e.event_id for e in first]  # stored; say the answer was lost

    after = enrolled(engine, "V2", key)
    assert after.id != before.id and after.venue == "V2"
    later = [EventIn.model_validate(e) for e in make_events(2)]
    batch = first + later
    assert upload(engine, after, batch) == [e.event_id for e in batch]  # all held: the kiosk may forget them

    assert stored(engine) == {
        **{e.event_id: [("V1", before.id)] for e in first},
        **{e.event_id: [("V2", after.id)] for e in later},
    }
    assert claims(engine) == {**{e.event_id: ["V1"] for e in first}, **{e.event_id: ["V2"] for e in later}}
    assert scans(engine) == {"V1": 3, "V2": 2}  # the dashboard counts each passage once too

    assert upload(engine, after, batch) == [e.event_id for e in batch]  # and again from the new venue: nothing new
    assert len(stored(engine)) == 5 and sum(len(copies) for copies in stored(engine).values()) == 5


def test_a_batch_sent_twice_by_one_venue_is_stored_once(engine: Engine) -> None:
    device = enrolled(engine, "V1", Ed25519PrivateKey.generate())
    batch = [EventIn.model_validate(e) for e in make_events(4)]
    assert upload(engine, device, batch[:3]) == [e.event_id for e in batch[:3]]
    assert upload(engine, device, batch) == [e.event_id for e in batch]
    assert {i: len(copies) for i, copies in stored(engine).items()} == {e.event_id: 1 for e in batch}
    assert scans(engine) == {"V1": 4}


def test_an_import_naming_another_venue_does_not_store_an_event_twice(engine: Engine) -> None:
    device = enrolled(engine, "V1", Ed25519PrivateKey.generate())
    batch = [EventIn.model_validate(e) for e in make_events(2)]
    upload(engine, device, batch)
    with engine.connect() as conn:
        lines = [{**row, "venue": "V2"} for row in export_events(conn)]
    with engine.begin() as conn:
        assert import_events(conn, [json.dumps(line) for line in lines], NOW) == (2, 0)
    assert {i: [venue for venue, _ in copies] for i, copies in stored(engine).items()} == {
        e.event_id: ["V1"] for e in batch
    }
