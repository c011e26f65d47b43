"""A full disk (issue 8, item 4): the store on a really small filesystem (a tmpfs of 2 MB, mounted for the test:
needs root, as CI has) and, for an unprivileged run, SQLite's page-count limit.

What must hold: a decision that cannot be recorded never opens the gate (fail-closed: there is no fail-open, the
gate never opens without a record; a venue's fallback is the guard opening by hand); the fault shows (red LED
three slow blinks, a throttled log line without personal data, the heartbeat's store.fault and disk_free_mb);
everything committed before is still there (integrity_check ok); recording resumes by itself once space is back,
without a restart. The sync thread and the config writes fail cleanly on a full disk and keep the last good files.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import on_canvas, qr_image
from sqlalchemy import select
from test_store import make_event

from central.schema import devices
from kiosk.app import Kiosk, assemble
from kiosk.camera.base import Frame
from kiosk.camera.files import ImageFolderSource
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.demo.central import LocalCentral
from kiosk.errors import StoreError
from kiosk.events import Event
from kiosk.hardware import FeedbackFanout
from kiosk.hardware.gpio import GpioFeedback, GpioPins
from kiosk.store import EventStore
from kiosk.sync.client import CentralClient
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import load_enrolment, load_key, write_atomic
from kiosk.sync.worker import SyncWorker

SECRET = bytes(range(32))
RELAY, RED = 17, 27


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs: writes past it fail with ENOSPC, as on a full SD card."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root); the page-limit tests cover the rest")
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path) -> Path:
    """Take every free block of `where`'s filesystem; the filler file, to delete to give the space back."""
    filler = where / "filler"
    with filler.open("wb", buffering=0) as file:  # unbuffered: nothing left to flush into the full disk at close
        for size in (65536, 512):  # big pieces, then the last blocks
            try:
                while file.write(b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


class Seen:
    """Records what the feedback was told (alongside the real GPIO outputs on mock pins)."""

    def __init__(self) -> None:
        self.signalled: list[Event] = []
        self.faults: list[str] = []

    def signal(self, event: Event) -> None:
        self.signalled.append(event)

    def fault(self, reason: str) -> None:
        self.faults.append(reason)

    def close(self) -> None:
        pass


class Gate:
    """A kiosk assembled from config with GPIO on mock pins, shown people one by one through its real loop."""

    def __init__(self, state_dir: Path, mock_factory: object, tmp_path: Path) -> None:
        config = KioskConfig.model_validate(
            {"state_dir": str(state_dir), "device": {"id": "gate-1", "venue": "BV-01"}, "camera": {"realtime": False}}
        )
        pins = GpioPins("GPIO22", "GPIO27", "GPIO18", "GPIO17", relay_hold_s=0.05, light_s=0.05)
        self.seen = Seen()
        self.gpio = GpioFeedback(pins, pin_factory=mock_factory)
        self.clock = FakeClock()
        (tmp_path / "nothing").mkdir(exist_ok=True)
        source = ImageFolderSource(tmp_path / "nothing", fps=None)
        self.kiosk: Kiosk = assemble(
            config, source=source, feedback=FeedbackFanout([self.gpio, self.seen]), clock=self.clock
        )
        self.frames = 0

    def show(self, person: int, frames: int = 3) -> list[Event]:
        """Person `person` holds a CCCD card's code up for `frames` frames; the events committed."""
        text = f"0010900{person:05d}||Người Số {person}|01021990|Nam|Hà Nội|15082021"
        image = on_canvas(qr_image(text, scale=4))
        committed = []
        for _ in range(frames):
            self.clock.advance(0.1)
            committed += self.kiosk.loop.process(Frame(image, self.frames, self.clock.monotonic()))
            self.frames += 1
        self.clock.advance(30)  # the person leaves
        return committed

    def relay_settled(self, mock_factory: object) -> list[int]:
        """The relay's states so far, once it has released after the last opening (relay_hold_s)."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = [int(s.state) for s in mock_factory.pin(RELAY).states]  # type: ignore[attr-defined]
            if states[-1] == 0:
                return states
            time.sleep(0.01)
        raise AssertionError("the relay did not release")


def pages_full(store: EventStore) -> None:
    """The unprivileged stand-in for a full disk: no page past those the database has now."""
    conn = store._db.conn
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    # Fill the free room left in the pages the database has, with events of a passage's own size.
    with pytest.raises(StoreError, match="full"):
        for _ in range(500):
            store.record(make_event("boot-0", subject_key="f" * 32))


def pages_back(store: EventStore) -> None:
    store._db.conn.execute("PRAGMA max_page_count = 1073741823")


@pytest.mark.parametrize("how", ["tmpfs", "page-limit"])
def test_a_full_store_keeps_the_gate_shut_shows_the_fault_and_recovers_by_itself(
    how: str, request: pytest.FixtureRequest, tmp_path: Path, mock_factory, caplog
) -> None:
    state = request.getfixturevalue("small_fs") / "state" if how == "tmpfs" else tmp_path / "state"
    gate = Gate(state, mock_factory, tmp_path)
    kiosk = gate.kiosk
    try:
        before = [e.event_id for p in range(3) for e in gate.show(p)]
        relay = gate.relay_settled(mock_factory)
        assert len(before) == 3 and 1 in relay and kiosk.store_state()["fault"] is None
        filler = fill(state.parent) if how == "tmpfs" else None
        if filler is None:
            pages_full(kiosk.store)
        committed = kiosk.store.status(recent=0).events
        caplog.clear()

        assert gate.show(3, frames=4) == []  # each frame tries again: never recorded, never let through
        assert gate.relay_settled(mock_factory) == relay  # the relay did not move
        assert gate.seen.faults == ["store"] * 4 and len(gate.seen.signalled) == 3
        assert 1 in [int(s.state) for s in mock_factory.pin(RED).states[-4:]]  # blinking red
        errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "decision not recorded, gate kept shut" in errors[0] and "full" in errors[0]
        assert "0010900" not in caplog.text and "Người" not in caplog.text  # nothing of the person
        beat = kiosk.heartbeat(kiosk.store)
        assert "full" in beat["store"]["fault"] and beat["store"]["errors"] == 4
        if filler is not None:
            assert beat["disk_free_mb"] == 0
            filler.unlink()
        else:
            pages_back(kiosk.store)

        again = gate.show(3)  # space is back: the same person goes through, no restart
        assert [e.seq for e in again] == [committed + 1] and 1 in gate.relay_settled(mock_factory)[len(relay) :]
        assert kiosk.store_state()["fault"] is None and kiosk.heartbeat(kiosk.store)["store"]["fault"] is None
        assert kiosk.store.integrity_ok()
        kept = {e.event_id for e in kiosk.store.unsent(10_000)}
        assert set(before) <= kept and again[0].event_id in kept
    finally:
        kiosk.close()


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(small_fs: Path) -> None:
    target = small_fs / "status-list.json"
    write_atomic(target, b'{"version": 1}')
    filler = fill(small_fs)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b'{"version": 2, "entries": []}' + b" " * 100_000)
    assert target.read_bytes() == b'{"version": 1}'
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler", "status-list.json"]  # regression: no .tmp
    filler.unlink()
    write_atomic(target, b'{"version": 2}')
    assert target.read_bytes() == b'{"version": 2}'


def test_sync_on_a_full_disk_sends_its_heartbeat_keeps_the_lists_and_loses_nothing(
    small_fs: Path, tmp_path: Path
) -> None:
    config = KioskConfig.model_validate({"state_dir": str(small_fs / "state")})
    (tmp_path / "central").mkdir()
    with LocalCentral(tmp_path / "central", SECRET) as central:
        code = central.venue_with_code(("67", "Đắk Nông"), ("CHO-GN", "Chợ Gia Nghĩa"), "market")
        enrol_device(config, central.url, code, None)
        enrolment = load_enrolment(config.state_dir)
        assert enrolment is not None
        store = EventStore(config.database_path)
        ids = [store.record(make_event(str(uuid.uuid4()))).event_id for _ in range(5)]
        lists = {p.name: p.read_bytes() for p in config.state_dir.glob("*.json")}
        worker = SyncWorker(
            database=config.database_path,
            state_dir=config.state_dir,
            client=CentralClient(enrolment.server, enrolment.device_id, load_key(config.state_dir)),
            clock=FakeClock(),
            heartbeat=lambda s: {"backlog": s.status(recent=0).unsent, "store": {"fault": "disk full"}},
        )
        filler = fill(small_fs)
        try:
            # Regression: a config write failing on the full disk raised out of the round, before the heartbeat.
            assert worker.pull_config() is False
            assert {p.name: p.read_bytes() for p in config.state_dir.glob("*.json")} == lists
            assert not [p.name for p in config.state_dir.iterdir() if p.name.endswith(".tmp")]
            assert worker.send_heartbeat(store)
            with central.engine.begin() as conn:
                beat = conn.execute(select(devices.c.last_heartbeat).where(devices.c.id == enrolment.device_id))
                assert beat.scalar_one()["store"] == {"fault": "disk full"}
            with pytest.raises(StoreError, match="not marked sent"):
                worker.upload_once(store)  # held by the centre, but the kiosk cannot note it: it goes again
            assert central.events_held(enrolment.device_id) == 5 and len(store.unsent()) == 5
        finally:
            filler.unlink()
        assert worker.upload_once(store) == "sent" and store.unsent() == []
        assert central.events_held(enrolment.device_id) == 5  # sent twice, held once
        assert {e for e in ids} == {r["event_id"] for r in store._db.query("SELECT event_id FROM events")}
        assert store.integrity_ok()
        store.close()
        assert worker.pull_config() is True  # the lists are written again once there is room
        assert json.loads((config.state_dir / "policy.json").read_text()) is not None
