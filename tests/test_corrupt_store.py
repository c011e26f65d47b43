"""A damaged event database at start (issue 8, item 6): detected, moved aside (never deleted), an alarm raised,
a fresh store in its place, and the unsent events that can still be read salvaged with their ids."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from test_loop import OTHER, Recorder, config_for, scene
from test_store import make_event

from kiosk.app import assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.demo.central import LocalCentral
from kiosk.doctorchecks import DoctorContext, check_database
from kiosk.errors import StoreError
from kiosk.store import EventStore
from kiosk.store.salvage import find_damage, is_damage, open_store
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device, sync_once
from kiosk.sync.identity import load_enrolment, load_key

AT = datetime(2026, 3, 1, 8, 30, 0, tzinfo=UTC)
ASIDE = "events.db.corrupt-20260301T083000Z"
EVENTS = 600  # a few dozen pages of rows
SENT = 100  # the oldest, already acknowledged by the centre: not salvaged
SECRET = bytes(range(32))


def filled(tmp_path: Path) -> tuple[Path, list[str], bytes]:
    """A closed database of EVENTS events of two boots (the first SENT sent), the ids of the unsent ones, and
    the unique reason text of an event in the middle (to find its page)."""
    db = tmp_path / "events.db"
    store = EventStore(db)
    ids = []
    for n in range(EVENTS):
        reason = f"marker-{n:04d}" if n == EVENTS // 2 else "logged"
        ids.append(store.record(make_event("boot-a" if n < EVENTS // 2 else "boot-b", reason=reason)).event_id)
    store.mark_sent(ids[:SENT], at=1.0)
    store.close()  # the last connection: the WAL is checkpointed into the file
    assert not (tmp_path / "events.db-wal").exists()
    return db, ids[SENT:], f"marker-{EVENTS // 2:04d}".encode()


def page_size(db: Path) -> int:
    return int.from_bytes(db.read_bytes()[16:18], "big")


def overwrite_header(db: Path, marker: bytes) -> None:
    with db.open("r+b") as file:
        file.write(b"this is not a database header at all!!" * 2)


def garble_a_middle_page(db: Path, marker: bytes) -> None:
    """Random bytes over the table page that holds the event marked in the middle of the file."""
    data = db.read_bytes()
    size = page_size(db)
    page = data.index(marker) // size
    with db.open("r+b") as file:
        file.seek(page * size)
        file.write(random.Random(8).randbytes(size))


def truncate_to_half(db: Path, marker: bytes) -> None:
    size = page_size(db)
    pages = db.stat().st_size // size
    os.truncate(db, pages // 2 * size)


def zero_fill(db: Path, marker: bytes) -> None:
    db.write_bytes(bytes(db.stat().st_size))


# (damage, fewest and most unsent events that can be salvaged): a page holds a few dozen rows of these events.
DAMAGE: list[tuple[Callable[[Path, bytes], None], int, int]] = [
    (overwrite_header, 0, 0),
    (garble_a_middle_page, EVENTS - SENT - 60, EVENTS - SENT - 1),
    (truncate_to_half, 100, EVENTS - SENT - 100),
    (zero_fill, 0, 0),
]


@pytest.mark.parametrize(("damage", "fewest", "most"), DAMAGE, ids=[d[0].__name__ for d in DAMAGE])
def test_a_damaged_file_is_moved_aside_and_its_unsent_events_salvaged(
    tmp_path: Path, damage: Callable[[Path, bytes], None], fewest: int, most: int
) -> None:
    db, unsent, marker = filled(tmp_path)
    damage(db, marker)
    damaged = db.read_bytes()
    assert find_damage(db) is not None

    store, recovery = open_store(db, now=AT)
    try:
        assert recovery is not None and recovery.moved_to == tmp_path / ASIDE
        assert (tmp_path / ASIDE).read_bytes() == damaged  # kept as it was, for a technician
        assert fewest <= recovery.salvaged <= most, recovery
        salvaged = [e.event_id for e in store.unsent(10_000)]
        assert len(salvaged) == len(set(salvaged)) == recovery.salvaged  # none twice
        assert set(salvaged) <= set(unsent)  # only unsent events, under their own ids
        assert store.integrity_ok()
        # The fresh store records, and gives no sequence number of a salvaged event a second time.
        used = {(e.boot_id, e.seq) for e in store.unsent(10_000)}
        for boot in ("boot-a", "boot-b"):
            assert (boot, store.record(make_event(boot)).seq) not in used
    finally:
        store.close()
    assert find_damage(db) is None
    again, second = open_store(db)  # the next start finds a sound file: nothing moved again
    again.close()
    aside = {p.name for p in tmp_path.iterdir() if "corrupt" in p.name}
    assert second is None and ASIDE in aside and aside <= {ASIDE, ASIDE + "-wal", ASIDE + "-shm"}


def test_a_garbled_page_costs_only_its_own_rows(tmp_path: Path) -> None:
    db, unsent, marker = filled(tmp_path)
    garble_a_middle_page(db, marker)
    store, recovery = open_store(db, now=AT)
    assert recovery is not None and recovery.unreadable_regions >= 1
    salvaged = [e.event_id for e in store.unsent(10_000)]
    store.close()
    lost = [i for i in unsent if i not in set(salvaged)]
    # The lost rows are one run of neighbours (one page), and every row after it was read again.
    positions = [unsent.index(i) for i in lost]
    assert lost and positions == list(range(positions[0], positions[0] + len(lost)))
    assert salvaged == [i for i in unsent if i not in set(lost)]  # in device order


def test_the_sequence_table_keeps_numbers_from_being_reused(tmp_path: Path) -> None:
    db, _, marker = filled(tmp_path)
    garble_a_middle_page(db, marker)
    store, _ = open_store(db, now=AT)
    # boot-a's last event is number EVENTS // 2: the next one is the one after, whatever was lost.
    assert store.record(make_event("boot-a")).seq == EVENTS // 2 + 1
    store.close()


def test_a_sound_database_and_an_empty_file_are_left_as_they_are(tmp_path: Path) -> None:
    db, unsent, _ = filled(tmp_path)
    store, recovery = open_store(db)
    assert recovery is None and [e.event_id for e in store.unsent(10_000)] == unsent
    store.close()
    empty = tmp_path / "new" / "events.db"
    empty.parent.mkdir()
    empty.touch()  # a first start cut short before the schema was written: nothing in it to lose
    store, recovery = open_store(empty)
    assert recovery is None and store.status().events == 0
    store.close()


def test_a_file_that_cannot_be_opened_is_an_error_not_damage(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    db.mkdir()  # cannot be opened at all (as a permission problem would, but this one holds for root too)
    with pytest.raises(StoreError, match="cannot check"):
        open_store(db)
    assert db.is_dir() and not list(tmp_path.glob("*corrupt*"))  # nothing moved: it is not damage


def test_a_salvage_cut_short_after_the_move_is_finished_at_the_next_start(tmp_path: Path) -> None:
    db, _unsent, marker = filled(tmp_path)
    garble_a_middle_page(db, marker)
    store, recovery = open_store(db, now=AT)
    store.close()
    assert recovery is not None
    # As if the power went after the damaged file was moved, before the salvaged one took its place.
    db.rename(tmp_path / "events.db.salvaging")
    store, again = open_store(db)
    assert again is None and len(store.unsent(10_000)) == recovery.salvaged
    store.close()


def test_damage_sqlite_reports_while_reading_is_recognised(tmp_path: Path) -> None:
    db, _, marker = filled(tmp_path)
    garble_a_middle_page(db, marker)
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError) as caught:
        conn.execute("SELECT COUNT(reason) FROM events").fetchall()
    conn.close()
    assert is_damage(caught.value)
    assert not is_damage(sqlite3.OperationalError("database is locked"))


def test_the_kiosk_starts_on_a_damaged_database_raises_the_alarm_and_keeps_working(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    config.state_dir.mkdir(parents=True)
    db, _unsent, marker = filled(config.state_dir)
    garble_a_middle_page(db, marker)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN, OTHER)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    try:
        assert recorder.faults == ["store-damaged"]  # the alarm, at start
        recovered = kiosk.store_state()["recovered"]
        assert recovered["moved_to"].startswith("events.db.corrupt-") and recovered["salvaged"] > 400
        assert kiosk.heartbeat(kiosk.store)["store"]["recovered"] == recovered
        kiosk.start()
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    assert [e.kind for e in recorder.signalled] == ["cccd", "cccd"] and recorder.committed_first == [True, True]
    store = EventStore(config.database_path, read_only=True)
    ids = [e.event_id for e in store.unsent(10_000)]
    store.close()
    assert len(ids) == len(set(ids)) == recovered["salvaged"] + 2
    doctor = check_database(DoctorContext(config))
    assert doctor.status == "warn" and "set aside" in doctor.detail and recovered["moved_to"] in (doctor.fix or "")


def test_salvaged_events_reach_the_centre_once_even_those_it_already_held(tmp_path: Path) -> None:
    """An upload the centre held whose acknowledgement never got to the kiosk: the event is unsent in the damaged
    file, salvaged under its own id, sent again, and held once."""
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        code = central.venue_with_code(("67", "Đắk Nông"), ("CHO-GN", "Chợ Gia Nghĩa"), "market")
        config = config_for(tmp_path)
        enrol_device(config, central.url, code, None)
        db, _unsent, marker = filled(config.state_dir)
        enrolment = load_enrolment(config.state_dir)
        assert enrolment is not None
        client = CentralClient(enrolment.server, enrolment.device_id, load_key(config.state_dir))
        store = EventStore(db)
        early = store.unsent(50)
        client.upload([e.as_row() for e in early], {"wall": 1.0, "mono": 1.0, "boot_id": "x", "synced": True})
        store.close()  # ... and the answer was lost: not marked sent here
        garble_a_middle_page(db, marker)
        store, recovery = open_store(db)
        store.close()
        assert recovery is not None
        report = sync_once(config)
        assert report["error"] is None and report["remaining"] == 0
        assert central.events_held(enrolment.device_id) == recovery.salvaged
