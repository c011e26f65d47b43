from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk.clock import FakeClock, SystemClock
from kiosk.errors import StoreError
from kiosk.events import Event
from kiosk.ids import uuid7
from kiosk.store import EventStore


def make_event(boot: str = "boot-a", **changes: object) -> Event:
    event = Event(
        event_id=str(uuid7()),
        boot_id=boot,
        seq=0,
        wall_time=1_750_000_000.0,
        mono_time=12.5,
        clock_synced=True,
        device_id="dev-1",
        venue="BV-01",
        direction="in",
        kind="cccd",
        subject_key="0123456789abcdef0123456789abcdef",
        decision="ACCEPT",
        reason="logged",
        decoder="zxing",
        latency_ms=4.2,
    )
    return dataclasses.replace(event, **changes)


@pytest.fixture
def store(tmp_path: Path):
    store = EventStore(tmp_path / "events.db")
    yield store
    store.close()


def test_sequence_numbers_count_per_boot_and_survive_a_restart(tmp_path: Path):
    store = EventStore(tmp_path / "events.db")
    assert [store.record(make_event()).seq for _ in range(3)] == [1, 2, 3]
    assert store.record(make_event("boot-b")).seq == 1
    store.close()
    reopened = EventStore(tmp_path / "events.db")
    assert reopened.record(make_event()).seq == 4
    reopened.close()


def test_database_is_in_wal_mode_with_full_sync(store: EventStore):
    conn = store._db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_unsent_and_mark_sent(store: EventStore):
    events = [store.record(make_event()) for _ in range(5)]
    assert [e.event_id for e in store.unsent(limit=3)] == [e.event_id for e in events[:3]]
    assert store.unsent(limit=1)[0] == events[0]
    assert store.mark_sent([events[0].event_id, events[1].event_id, "no-such-id"], at=1.0) == 2
    assert store.mark_sent([events[0].event_id], at=2.0) == 0
    status = store.status()
    assert (status.events, status.unsent) == (5, 3)


def test_status_shows_no_subject_keys(store: EventStore):
    store.record(make_event())
    (row,) = store.status().recent
    assert "subject_key" not in row and row["decision"] == "ACCEPT" and row["seq"] == 1


def test_constraints_refuse_impossible_events(store: EventStore):
    with pytest.raises(StoreError, match="CHECK constraint"):
        store.record(make_event(decision="MAYBE"))
    with pytest.raises(StoreError):
        store.record(make_event(direction="sideways"))
    assert store.status().events == 0


def test_duplicate_event_id_is_refused_not_doubled(store: EventStore):
    event = make_event()
    store.record(event)
    with pytest.raises(StoreError, match="UNIQUE"):
        store.record(event)
    assert store.status().events == 1


def test_full_disk_is_a_store_error_and_keeps_what_was_committed(tmp_path: Path):
    store = EventStore(tmp_path / "events.db")
    committed = [store.record(make_event()).event_id for _ in range(3)]
    page_count = store._db.conn.execute("PRAGMA page_count").fetchone()[0]
    store._db.conn.execute(f"PRAGMA max_page_count = {page_count}")  # the disk is now full
    with pytest.raises(StoreError, match="full"):
        for _ in range(200):
            store.record(make_event(reason="x" * 500))
    store.close()
    reopened = EventStore(tmp_path / "events.db")
    assert {e.event_id for e in reopened.unsent(1000)} >= set(committed)
    assert reopened.integrity_ok()
    reopened.close()


def test_status_can_be_read_while_the_kiosk_writes(store: EventStore, tmp_path: Path):
    store.record(make_event())
    reader = EventStore(tmp_path / "events.db", read_only=True)
    store.record(make_event())
    assert reader.status().events == 2
    reader.close()


def test_unwritable_location_is_a_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises((StoreError, OSError)):
        EventStore(tmp_path / "file" / "events.db")


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_store import make_event
from kiosk.store import EventStore
store = EventStore(Path({db!r}))
print("ready", flush=True)
while True:
    event = store.record(make_event())
    print(event.event_id, event.seq, flush=True)  # printed only after the commit returned
"""


def test_no_committed_event_is_lost_when_the_writer_is_killed(tmp_path: Path):
    """SIGKILL a writer at random points, 12 times: every event it reported committed is in the file.

    A killed process leaves the OS page cache intact, so this proves the commit protocol (nothing reported is
    lost, no sequence number reused), not power-cut durability: that rests on synchronous=FULL, which
    test_database_is_in_wal_mode_with_full_sync checks.
    """
    db = tmp_path / "events.db"
    rng = random.Random(7)
    reported: list[str] = []
    for _ in range(12):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(tests=str(Path(__file__).parent), db=str(db))],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        reported += [line.split()[0] for line in out.splitlines() if len(line.split()) == 2]
    store = EventStore(db)
    stored = [e.event_id for e in store.unsent(limit=1_000_000)]
    assert store.integrity_ok()
    assert set(reported) <= set(stored)
    assert len(stored) == len(set(stored))
    seqs = [r["seq"] for r in store._db.query("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))  # one boot id: no sequence number lost or reused
    store.close()
    assert len(reported) > 50, json.dumps({"reported": len(reported)})


def test_the_backlogs_age_is_right_whatever_the_wall_clock_says(store: EventStore) -> None:
    """A Pi without a real-time clock starts at 1970: the oldest waiting event's age must not read 56 years."""
    clock = FakeClock(wall=0.0, synced=False, boot_id="boot-now")  # 1970, monotonic at 1000 s
    assert store.oldest_unsent_age(clock) is None
    store.record(make_event("boot-now", wall_time=clock.wall(), mono_time=clock.monotonic(), clock_synced=False))
    clock.advance(90)
    clock.set_wall(1_780_000_000.0, synced=True)  # NTP sets the clock
    assert store.oldest_unsent_age(clock) == pytest.approx(90)
    clock.set_wall(1_780_000_000.0 - 3600)  # and someone sets it back an hour
    assert store.oldest_unsent_age(clock) == pytest.approx(90)


def test_an_earlier_boots_backlog_is_aged_by_synchronised_wall_clocks_else_at_least_the_uptime(
    store: EventStore,
) -> None:
    store.record(make_event("boot-before", wall_time=1_780_000_000.0, mono_time=50.0, clock_synced=True))
    synced = FakeClock(wall=1_780_000_000.0 + 7200, synced=True, boot_id="boot-now")
    assert store.oldest_unsent_age(synced) == pytest.approx(7200)
    unsure = FakeClock(wall=0.0, synced=False, boot_id="boot-now")
    assert store.oldest_unsent_age(unsure) == pytest.approx(unsure.monotonic())  # at least this boot's uptime


STORE_CALLS = {
    "record": lambda store: store.record(make_event()),
    "status": lambda store: store.status(),
    "unsent": lambda store: store.unsent(),
    "mark_sent": lambda store: store.mark_sent(["x"], 0.0),
    "quarantine": lambda store: store.quarantine(["x"], 0.0, "refused"),
    "release_quarantine": lambda store: store.release_quarantine(),
    "oldest_unsent_age": lambda store: store.oldest_unsent_age(SystemClock()),
    "last_accepted": lambda store: store.last_accepted("k", "v"),
    "restore": lambda store: store.restore([], {}),
    "integrity_ok": lambda store: store.integrity_ok(),
}


@pytest.mark.parametrize("method", STORE_CALLS)
def test_every_store_method_says_which_file_and_what_failed_never_a_raw_sqlite_error(tmp_path: Path, method: str):
    store = EventStore(tmp_path / "events.db")
    store.record(make_event())
    store.close()  # every statement now fails in SQLite itself
    with pytest.raises(StoreError, match=r"events\.db: "):
        STORE_CALLS[method](store)
