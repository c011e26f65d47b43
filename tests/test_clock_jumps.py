"""The wall clock at 1970, then jumping forward and back during a run (issue 8, item 5).

A Pi has no real-time clock: it boots at 1970 (or at the last shutdown), NTP sets it later, and a person may set
it by hand (the kernel then marks it unsynchronised). Through the real loop, a real store and a real central
server on loopback: events keep a strict (boot id, sequence) order without gaps whatever the wall clock does,
each says whether its wall time could be trusted, and the centre puts every event of the boot it uploads from
at its true time from the monotonic clock. Events of an earlier boot cannot be corrected exactly (that boot's
monotonic clock is gone): the centre flags their time as approximate.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import on_canvas, qr_image
from sqlalchemy import select

from central.schema import events as central_events
from kiosk.app import Kiosk, assemble
from kiosk.camera.base import Frame
from kiosk.camera.files import ImageFolderSource
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.events import Event
from kiosk.hardware import ConsoleFeedback
from kiosk.store import EventStore
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key
from kiosk.sync.worker import SyncWorker

SECRET = bytes(range(32))
HOUR = 3600.0
START_MONO = 1000.0  # FakeClock's monotonic reading at its start
SPAN = 600.0  # the run covers less than this many seconds of monotonic time


class TrueTime:
    """What the time really is, for a kiosk whose monotonic clock started at START_MONO: the run ends now."""

    def __init__(self) -> None:
        self.base = time.time() - SPAN

    def at(self, mono: float) -> float:
        return self.base + (mono - START_MONO)


def people(kiosk: Kiosk, clock: FakeClock, first: int, count: int) -> list[Event]:
    """`count` people show their codes in turn, a few frames each, 20 s apart (both clocks advance)."""
    committed = []
    for person in range(first, first + count):
        text = f"0790000{person:05d}||Người Thử {person}|01021990|Nữ|Đắk Nông|15082021"
        image = on_canvas(qr_image(text, scale=4))
        for index in range(3):
            clock.advance(0.1)
            committed += kiosk.loop.process(Frame(image, index, clock.monotonic()))
        clock.advance(20)
    return committed


def kiosk_on(config: KioskConfig, clock: FakeClock, tmp_path: Path) -> Kiosk:
    (tmp_path / "none").mkdir(exist_ok=True)
    return assemble(
        config, source=ImageFolderSource(tmp_path / "none", fps=None), feedback=ConsoleFeedback(), clock=clock
    )


def upload_all(config: KioskConfig, clock: FakeClock) -> None:
    enrolment = load_enrolment(config.state_dir)
    assert enrolment is not None
    store = EventStore(config.database_path)
    worker = SyncWorker(
        database=config.database_path,
        state_dir=config.state_dir,
        client=CentralClient(enrolment.server, enrolment.device_id, load_key(config.state_dir)),
        clock=clock,
        heartbeat=lambda s: {"backlog": 0},
    )
    try:
        while worker.upload_once(store) == "sent":
            pass
        assert store.unsent() == []
    finally:
        store.close()


def at_centre(central: LocalCentral) -> dict[str, tuple[str, int, float, bool]]:
    """event id -> (boot id, seq, corrected time as epoch seconds, whether the centre calls that time exact)."""
    columns = central_events.c
    with central.engine.begin() as conn:
        rows = conn.execute(select(columns.event_id, columns.boot_id, columns.seq, columns.time, columns.time_synced))
        return {r.event_id: (r.boot_id, r.seq, _epoch(r.time), r.time_synced) for r in rows}


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@pytest.fixture
def central(tmp_path: Path):
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, central: LocalCentral) -> KioskConfig:
    config = KioskConfig.model_validate({"state_dir": str(tmp_path / "kiosk"), "camera": {"realtime": False}})
    code = central.venue_with_code(("67", "Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
    enrol_device(config, central.url, code, None)
    return config


def test_order_and_true_times_hold_while_the_wall_clock_jumps(
    config: KioskConfig, central: LocalCentral, tmp_path: Path
) -> None:
    truth = TrueTime()
    clock = FakeClock(wall=86_400.0 * 3, synced=False, boot_id="boot-1")  # booted at 1970-01-04
    kiosk = kiosk_on(config, clock, tmp_path)
    try:
        made = people(kiosk, clock, 0, 3)  # at 1970, unsynchronised
        clock.set_wall(truth.at(clock.monotonic()), synced=True)  # NTP: forward 56 years
        made += people(kiosk, clock, 3, 3)
        clock.set_wall(clock.wall() - HOUR, synced=False)  # set back an hour by hand: the kernel says unsynced
        made += people(kiosk, clock, 6, 3)
        clock.set_wall(clock.wall() + 2 * HOUR, synced=False)  # and an hour too far forward
        made += people(kiosk, clock, 9, 2)
    finally:
        kiosk.close()
    assert clock.monotonic() - START_MONO < SPAN
    assert [(e.boot_id, e.seq) for e in made] == [("boot-1", n) for n in range(1, 12)]  # strict, no gap
    assert [e.clock_synced for e in made] == [False] * 3 + [True] * 3 + [False] * 5
    walls = [e.wall_time for e in made]
    assert walls[0] < 1e6 and walls[6] < walls[5]  # the wall times themselves go back: the order does not

    clock.advance(max(0.0, time.time() - truth.at(clock.monotonic())))  # monotonic time up to the real now
    upload_all(config, clock)
    held = at_centre(central)
    assert sorted(held) == sorted(e.event_id for e in made)  # each once
    for event in made:
        boot, seq, corrected, exact = held[event.event_id]
        assert (boot, seq) == (event.boot_id, event.seq)
        # Within a few seconds (the upload's own latency on a loaded machine), whatever the device's wall said.
        assert abs(corrected - truth.at(event.mono_time)) < 10, (event.seq, corrected - truth.at(event.mono_time))
        assert exact


def test_events_of_an_earlier_unsynchronised_boot_are_ordered_by_boot_then_flagged_approximate(
    config: KioskConfig, central: LocalCentral, tmp_path: Path
) -> None:
    first = FakeClock(wall=86_400.0, synced=False, boot_id="boot-1")
    kiosk = kiosk_on(config, first, tmp_path)
    try:
        before = people(kiosk, first, 0, 2)  # offline all this boot: nothing uploaded
    finally:
        kiosk.close()
    second = FakeClock(wall=86_400.0, synced=False, boot_id="boot-2")  # rebooted: 1970 again, monotonic anew
    kiosk = kiosk_on(config, second, tmp_path)
    try:
        after = people(kiosk, second, 2, 2)
    finally:
        kiosk.close()
    assert [(e.boot_id, e.seq) for e in before + after] == [("boot-1", 1), ("boot-1", 2), ("boot-2", 1), ("boot-2", 2)]
    assert after[0].mono_time < before[-1].mono_time + 1  # monotonic time started again: only the boot orders them
    store = EventStore(config.database_path, read_only=True)
    assert [e.event_id for e in store.unsent()] == [e.event_id for e in before + after]  # device order
    store.close()

    upload_all(config, second)
    held = at_centre(central)
    assert [held[e.event_id][3] for e in before] == [False, False]  # approximate, and said so
    assert [held[e.event_id][3] for e in after] == [True, True]
    ordered = sorted(held.values(), key=lambda row: (row[0], row[1]))
    assert [(row[0], row[1]) for row in ordered] == [("boot-1", 1), ("boot-1", 2), ("boot-2", 1), ("boot-2", 2)]
