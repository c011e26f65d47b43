"""A damaged event database at start (issue 8, item 6): detected, moved aside (never deleted), an alarm raised,
a fresh store in its place, and the unsent events that can still be read salvaged with their ids."""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from test_loop import OTHER, Recorder, config_for, scene
from test_store import make_event

from kiosk.app import assemble, sync_once
from kiosk.camera.files import ImageFolderSource
from kiosk.clock import FakeClock
from kiosk.demo.central import LocalCentral
from kiosk.errors import StoreError
from kiosk.events import Event
from kiosk.ops.doctorchecks import DoctorContext, check_database
from kiosk.store import EventStore
from kiosk.store.eventrules import FIELDS, event_problem
from kiosk.store.salvage import find_damage, is_damage, open_store
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key

AT = datetime(2026, 3, 1, 8, 30, 0, tzinfo=UTC)
ASIDE = "events.db.corrupt-20260301T083000Z"
EVENTS = 600  # a few dozen pages of rows
SENT = 100  # the oldest, already acknowledged by the centre: not salvaged
SECRET = bytes(range(32))
NOW = "boot-b"  # the boot the kiosk runs in: it restarted, the OS did not (boot-a is an earlier boot)


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


def clock(boot: str = NOW) -> FakeClock:
    """This boot, 1,000 s after the OS started it (FakeClock's monotonic start)."""
    return FakeClock(boot_id=boot)


def used_sequences(db: Path) -> dict[str, int]:
    """The highest sequence number of each boot in a sound file, sent events included."""
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT boot_id, MAX(seq) FROM events GROUP BY boot_id").fetchall())
    finally:
        conn.close()


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
    used = used_sequences(db)
    damage(db, marker)
    damaged = db.read_bytes()
    assert find_damage(db) is not None

    store, recovery = open_store(db, clock=clock(), now=AT)
    try:
        assert recovery is not None and recovery.moved_to == tmp_path / ASIDE
        assert (tmp_path / ASIDE).read_bytes() == damaged  # kept as it was, for a technician
        assert fewest <= recovery.salvaged <= most, recovery
        salvaged = [e.event_id for e in store.unsent(10_000)]
        assert len(salvaged) == len(set(salvaged)) == recovery.salvaged  # none twice
        assert set(salvaged) <= set(unsent)  # only unsent events, under their own ids
        assert store.integrity_ok()
        assert all(event_problem(e.as_row()) is None for e in store.unsent(10_000))
        # This boot goes on past every number it gave, whatever could be read (even nothing at all). An
        # earlier boot never records again; where its rows could be read, it too would go on past them.
        assert store.record(make_event(NOW)).seq > used[NOW]
        if recovery.salvaged:
            assert store.record(make_event("boot-a")).seq > used["boot-a"]
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
    store, recovery = open_store(db, clock=clock(), now=AT)
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
    store, _ = open_store(db, clock=clock(), now=AT)
    # Each boot's last event is number EVENTS // 2: the next one is the one after, whatever was lost (the
    # sequence table was read whole: no jump for this boot either).
    assert store.record(make_event("boot-a")).seq == EVENTS // 2 + 1
    assert store.record(make_event(NOW)).seq == EVENTS // 2 + 1
    store.close()


def sent_long_ago(tmp_path: Path, boot: str, count: int, waiting: int) -> Path:
    """A closed database of `count` events of one boot, all sent but the first `waiting` (quarantined)."""
    db = tmp_path / "events.db"
    store = EventStore(db)
    rows = [make_event(boot, seq=n).as_row() for n in range(1, count + 1)]
    store.restore([{**row, "sent_at": None if n < waiting else 2.0} for n, row in enumerate(rows)], {boot: count})
    store.quarantine([row["event_id"] for row in rows[:waiting]], at=1.0, reason="refused")
    store.close()
    return db


def garble_the_sequence_table(db: Path) -> None:
    conn = sqlite3.connect(db)
    (page,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'boot_sequence'").fetchone()
    conn.close()
    size = page_size(db)
    with db.open("r+b") as file:
        file.seek((page - 1) * size)
        file.write(random.Random(3).randbytes(size))


@pytest.mark.parametrize("current", [False, True], ids=["earlier-boot", "this-boot"])
def test_numbers_of_sent_events_are_not_given_again_when_the_sequence_table_is_lost(
    tmp_path: Path, current: bool
) -> None:
    """The review's case: 3,000 events, the first 5 quarantined, the rest sent, the sequence table's page
    garbled. The numbers of sent events count too (they are at the centre), and this boot, which may have
    numbered rows that are lost, goes on past the monotonic clock in microseconds (1,000 s: 10**9)."""
    db = sent_long_ago(tmp_path, "boot-x", 3000, waiting=5)
    garble_the_sequence_table(db)
    store, recovery = open_store(db, clock=clock("boot-x" if current else NOW), now=AT)
    try:
        assert recovery is not None and recovery.salvaged == 5
        assert store.record(make_event("boot-x")).seq == (1_000_000_001 if current else 3001)
    finally:
        store.close()


@pytest.mark.parametrize("damage", [overwrite_header, zero_fill], ids=["overwrite_header", "zero_fill"])
def test_this_boot_goes_on_past_its_numbers_when_nothing_could_be_read(
    tmp_path: Path, damage: Callable[[Path, bytes], None]
) -> None:
    db = sent_long_ago(tmp_path, NOW, 3000, waiting=0)
    damage(db, b"")
    store, recovery = open_store(db, clock=clock(), now=AT)
    try:
        assert recovery is not None and recovery.salvaged == 0
        assert store.record(make_event(NOW)).seq == 1_000_000_001
        assert store.record(make_event("boot-later")).seq == 1  # a boot the file never saw starts at 1
    finally:
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


# Readable but garbled: what a few flipped bits make of a row's fields (the first: an id with a 'p' in it).
GARBLED: list[tuple[str, object]] = [
    ("event_id", lambda v: chr(ord(v[0]) ^ 0x40) + v[1:]),
    ("reason", str.upper),
    ("decoder", lambda v: "zxinG"),
    ("kind", lambda v: "cc\x03d"),
    ("direction", lambda v: "iN"),
    ("decision", lambda v: "ACCEPt"),
    ("subject_key", lambda v: v[:-1] + "g"),
    ("wall_time", lambda v: float("inf")),
    ("mono_time", lambda v: float("-inf")),
    ("latency_ms", lambda v: -v),
    ("seq", lambda v: 2**63 - 1),
    ("boot_id", lambda v: ""),
]


def garble_rows(db: Path, ids: list[str]) -> None:
    """Flip bits in one field of each of the rows `ids` (CHECK constraints off: as the disk would)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA ignore_check_constraints = ON")
    for event_id, (name, flip) in zip(ids, GARBLED, strict=True):
        (value,) = conn.execute(f"SELECT {name} FROM events WHERE event_id = ?", [event_id]).fetchone()
        conn.execute(f"UPDATE events SET {name} = ? WHERE event_id = ?", [flip(value), event_id])
    conn.commit()
    conn.close()


def as_uploaded(row: dict[str, object]) -> dict[str, object]:
    """A stored row as the uploader sends it (EventStore.unsent, Event.as_row)."""
    return {name: row[name] for name in FIELDS} | {"clock_synced": bool(row["clock_synced"])}


def test_the_kiosk_holds_salvaged_rows_to_the_rules_of_the_centre() -> None:
    """kiosk/store/eventrules.py and central/models.py agree: on a good row, on each garbling, and on a few edges."""
    from pydantic import ValidationError

    from central.models import EventIn

    good = make_event(seq=7).as_row()
    assert event_problem(good) is None
    edges = {
        "seq": [0, 1, 2**62, 2**62 + 1, True, 1.0],
        "reason": ["a" * 48, "a" * 49, "", "logged\n", "log ged"],
        "kind": ["a" * 16, "a" * 17, "pc-covid", "cccd1"],
        "decoder": ["zxing-cpp", "a" * 17],
        "boot_id": ["b" * 64, "b" * 65],
        "subject_key": [None, "0" * 31, "0" * 33],
        "latency_ms": [0, 0.0, -0.001, float("-inf")],
        "wall_time": [0, -1.5, True, float("nan")],
        "event_id": [good["event_id"].upper(), good["event_id"] + "\n"],
    }
    cases = [good] + [good | {name: flip(good[name])} for name, flip in GARBLED]
    cases += [good | {name: value} for name, values in edges.items() for value in values]
    assert set(FIELDS) == {f.name for f in fields(Event)}
    for row in cases:
        try:
            EventIn.model_validate(as_uploaded(row))
            accepted = True
        except ValidationError:
            accepted = False
        assert (event_problem(row) is None) == accepted, (row, event_problem(row))
    # Stored 0/1 for false/true; anything else is a garbled row (the uploader would have sent it as true).
    assert event_problem(good | {"clock_synced": 1}) is None
    assert event_problem(good | {"clock_synced": 2}) == "clock_synced: neither true nor false"
    assert event_problem({k: v for k, v in good.items() if k != "venue"}) == "venue: missing"


def test_garbled_rows_are_left_out_and_the_rest_reach_the_centre_unrefused(tmp_path: Path) -> None:
    """One garbled row in a batch would have the centre refuse it whole and the kiosk quarantine 500 events."""
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        code = central.venue_with_code(("67", "Đắk Nông"), ("CHO-GN", "Chợ Gia Nghĩa"), "market")
        config = config_for(tmp_path)
        enrol_device(config, central.url, code, None)
        db, unsent, marker = filled(config.state_dir)
        garbled = unsent[-len(GARBLED) :]  # far from the garbled page: all of them readable
        garble_rows(db, garbled)
        garble_a_middle_page(db, marker)
        store, recovery = open_store(db, clock=clock(), now=AT)
        salvaged = {e.event_id for e in store.unsent(10_000)}
        store.close()
        assert recovery is not None and recovery.garbled == len(GARBLED) and recovery.summary()["garbled"] == 12
        assert not salvaged & set(garbled)
        assert len(salvaged) == recovery.salvaged >= EVENTS - SENT - len(GARBLED) - 60
        report = sync_once(config)
        assert report["error"] is None and report["quarantined"] == 0 and report["remaining"] == 0
        enrolment = load_enrolment(config.state_dir)
        assert enrolment is not None and central.events_held(enrolment.device_id) == recovery.salvaged


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


def zero_all_but_the_first_page(db: Path) -> None:
    """Damage under a running kiosk: every table's pages zeroed, the schema page left (as a bad SD card might)."""
    size = page_size(db)
    with db.open("r+b") as file:
        file.seek(size)
        file.write(bytes(db.stat().st_size - size))


def test_damage_found_while_running_ends_the_run_and_the_next_start_salvages(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    EventStore(config.database_path).close()  # a sound file, all in the main file (no -wal)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN, OTHER)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder, clock=clock())
    zero_all_but_the_first_page(config.database_path)
    try:
        kiosk.start()
        with pytest.raises(StoreError, match="malformed") as caught:
            kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    assert caught.value.damaged  # ended at the first passage: the second was never tried
    assert recorder.faults == ["store-damaged"] and recorder.signalled == []  # the gate stayed shut
    fault = kiosk.metrics.copy().store_fault
    assert fault is not None and "malformed" in fault
    store, recovery = open_store(config.database_path, clock=clock(), now=AT)  # what the restart does
    try:
        assert recovery is not None and recovery.moved_to.name == ASIDE
        assert store.record(make_event(NOW)).seq == 1_000_000_001  # nothing could be read: past the floor
    finally:
        store.close()


def test_kiosk_run_exits_1_on_a_damaged_database_so_that_systemd_restarts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import kiosk.app
    import kiosk.cli

    def assemble_then_damage(*args: object, **kwargs: object) -> kiosk.app.Kiosk:
        built = assemble(*args, **kwargs)
        zero_all_but_the_first_page(built.config.database_path)
        return built

    monkeypatch.setattr(kiosk.app, "assemble", assemble_then_damage)
    monkeypatch.setattr(kiosk.cli, "setup_logging", lambda level: None)  # the test's logging stays pytest's
    state = tmp_path / "state"
    EventStore(state / "events.db").close()
    folder = write_images(tmp_path / "f", scene(CCCD_AN))
    toml = tmp_path / "kiosk.toml"
    toml.write_text("[camera]\nrealtime = false\n[status_page]\nenabled = false\n")
    args = ["run", "--config", str(toml), "--source", str(folder), "--state-dir", str(state), "--until-end"]
    result = CliRunner().invoke(kiosk.cli.cli, args)
    assert result.exit_code == 1, result.output
    assert "malformed" in result.output
    store, recovery = open_store(state / "events.db", now=AT)
    store.close()
    assert recovery is not None


def test_a_full_disk_is_not_damage(tmp_path: Path) -> None:
    """A full disk mends by itself (retention, sent events purged): the kiosk keeps running through it."""
    store = EventStore(tmp_path / "events.db")
    store.record(make_event())
    (pages,) = store._db.conn.execute("PRAGMA page_count").fetchone()
    store._db.conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="full") as caught:
        for _ in range(200):
            store.record(make_event(reason="x" * 500))
    store.close()
    assert not caught.value.damaged
