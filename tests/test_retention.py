"""Retention enforced by code (issue 8, privacy): the kiosk deletes events the centre holds once past
`store.retention_days` by a synchronised clock, never unsent or quarantined ones, and a running kiosk keeps no
deleted subject key in its database file and overwrites its capped WAL; the centre's hourly maintenance removes
old events, expired declarations with their sealed phones, old audit entries when asked, and dead sessions, login
failures and device credentials. Time is a fake clock: no test waits for days."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Engine, func, select

from central.db import connect
from central.declarations import set_contact_public_key, submit, validate_form
from central.maintenance import Maintenance
from central.passkeys import load_pass_key, publish
from central.schema import (
    audit_log,
    auth_nonces,
    auth_tokens,
    declarations,
    event_keys,
    events,
    login_failures,
    web_sessions,
)
from kiosk.clock import FakeClock
from kiosk.config import parse_config
from kiosk.events import Event
from kiosk.ids import uuid7
from kiosk.store import EventStore
from kiosk.store.retention import DAY_S, WAL_LIMIT, Retention
from kiosk.sync.client import CentralClient
from kiosk.sync.worker import SyncTimers, SyncWorker

NOW = 1_750_000_000.0  # the kiosk's fake wall clock
SECRET = bytes(range(32))


# The kiosk.


def passage(clock: FakeClock, subject: str) -> Event:
    return Event(
        event_id=str(uuid7()),
        boot_id=clock.boot_id,
        seq=0,
        wall_time=clock.wall(),
        mono_time=clock.monotonic(),
        clock_synced=clock.synchronised(),
        device_id="gate-1",
        venue="V1",
        direction="in",
        kind="cccd",
        subject_key=subject,
        decision="ACCEPT",
        reason="logged",
        decoder="zxing",
        latency_ms=4.0,
    )


class Gate:
    """A kiosk's store with passages recorded at chosen ages, some acknowledged by the centre, some quarantined."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = EventStore(path)
        self.clock = FakeClock(NOW - 30 * DAY_S)

    def record(
        self, subject: str, *, age_days: float = 0, sent: bool, quarantined: bool = False, unsynced: float | None = None
    ) -> str:
        """A passage `age_days` old by a synchronised clock, or at wall time `unsynced` by an unsynchronised one."""
        if unsynced is None:
            self.clock.set_wall(NOW - age_days * DAY_S, synced=True)
        else:
            self.clock.set_wall(unsynced, synced=False)
        event = self.store.record(passage(self.clock, subject))
        if sent:
            self.store.mark_sent([event.event_id], self.clock.wall() + 60)  # acknowledged a minute later
        if quarantined:
            self.store.quarantine([event.event_id], self.clock.wall() + 60, "422 from the centre")
        return event.event_id

    def subjects(self) -> set[str]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as conn:
            return {row[0] for row in conn.execute("SELECT subject_key FROM events")}

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def gate(tmp_path: Path):
    g = Gate(tmp_path / "events.db")
    yield g
    g.close()


def key(label: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_OID, label).hex


def test_only_sent_events_past_retention_are_deleted(gate: Gate):
    gate.record(key("old-sent"), age_days=20, sent=True)
    gate.record(key("old-unsent"), age_days=20, sent=False)
    gate.record(key("old-quarantined"), age_days=20, sent=False, quarantined=True)
    gate.record(key("recent-sent"), age_days=3, sent=True)
    gate.record(key("recent-unsent"), age_days=3, sent=False)

    removed = Retention(gate.path, days=14).purge(NOW, clock_synced=True)

    assert removed == 1
    assert gate.subjects() == {key(s) for s in ("old-unsent", "old-quarantined", "recent-sent", "recent-unsent")}
    assert gate.store.status(0).unsent == 2 and gate.store.status(0).quarantined == 1


def test_age_is_the_recorded_time_not_the_acknowledgement(gate: Gate):
    """sent_at is stamped by whatever the clock said at upload (1970 on a Pi that has not synchronised yet), so
    it neither keeps nor deletes: a backlog uploaded late goes once recorded past retention, and an event
    acknowledged at "1970" stays until it is itself past retention."""
    late = gate.record(key("late"), age_days=20, sent=False)
    gate.store.mark_sent([late], NOW - 2 * DAY_S)
    recent = gate.record(key("recent"), age_days=3, sent=False)
    gate.store.mark_sent([recent], 90.0)
    retention = Retention(gate.path, days=14)
    assert retention.purge(NOW, clock_synced=True) == 1
    assert gate.subjects() == {key("recent")}
    assert retention.purge(NOW + 12 * DAY_S, clock_synced=True) == 1


def test_events_recorded_while_unsynchronised_wait_for_a_later_synchronised_one(gate: Gate):
    """The review's case: recorded at wall time 60 and acknowledged at 90 by a Pi still at 1970, then the clock
    synchronises. Such an event was deleted at the first purge; its age is only known from a synchronised event
    recorded after it, and once that one is past retention, so is the earlier one (rowid order)."""
    gate.record(key("synced-old"), age_days=20, sent=True)
    boot = gate.record(key("boot-1970"), unsynced=60.0, sent=False)
    gate.store.mark_sent([boot], 90.0)
    gate.record(key("boot-1970-unsent"), unsynced=61.0, sent=False)
    gate.record(key("boot-1970-quarantined"), unsynced=62.0, sent=False, quarantined=True)
    gate.record(key("synced-recent"), age_days=1, sent=True)
    retention = Retention(gate.path, days=14)

    assert retention.purge(NOW, clock_synced=True) == 1  # only the one older by a synchronised clock
    assert key("boot-1970") in gate.subjects()
    assert retention.purge(NOW + 12.5 * DAY_S, clock_synced=True) == 0  # synced-recent is 13.5 days old...
    assert retention.purge(NOW + 13.5 * DAY_S, clock_synced=True) == 2  # ...then 14.5: it and boot-1970 go
    assert gate.subjects() == {key("boot-1970-unsent"), key("boot-1970-quarantined")}  # never without the centre
    assert retention.purge(NOW + 400 * DAY_S, clock_synced=True) == 0


def test_an_unsynchronised_event_after_the_last_old_synchronised_one_is_kept(gate: Gate):
    gate.record(key("synced-old"), age_days=20, sent=True)
    gate.record(key("reboot-1970"), unsynced=60.0, sent=True)  # a later boot, clock not yet synchronised
    assert Retention(gate.path, days=14).purge(NOW, clock_synced=True) == 1
    assert gate.subjects() == {key("reboot-1970")}


def test_nothing_is_deleted_while_the_clock_is_not_synchronised(gate: Gate):
    gate.record(key("old-sent"), age_days=20, sent=True)
    retention = Retention(gate.path, days=14)
    assert retention.purge(NOW, clock_synced=False) == 0  # a clock jumped forward cannot judge age
    assert retention.purge(NOW, clock_synced=True) == 1


def test_purge_goes_in_bounded_batches_and_sequence_numbers_are_not_reused(gate: Gate):
    for n in range(25):
        gate.record(key(f"old-{n}"), age_days=30, sent=True)
    last_seq = gate.store.status(1).recent[0]["seq"]
    retention = Retention(gate.path, days=14, batch=4, max_batches=3)

    assert retention.purge(NOW, clock_synced=True) == 12  # one round: 3 batches of 4, the rest later
    assert retention.purge(NOW, clock_synced=True) == 12
    assert retention.purge(NOW, clock_synced=True) == 1
    assert gate.subjects() == set()

    gate.clock.set_wall(NOW)
    again = gate.store.record(passage(gate.clock, key("new")))
    assert again.seq == last_seq + 1  # boot_sequence remembers the boot's last number


def test_deleted_events_leave_no_subject_key_on_disk(gate: Gate):
    """secure_delete: the bytes of a purged row are overwritten, not left in the page's free space."""
    old = [key(f"gone-{n}") for n in range(50)]
    for subject in old:
        gate.record(subject, age_days=30, sent=True)
    gate.record(key("kept"), age_days=1, sent=True)
    assert Retention(gate.path, days=14).purge(NOW, clock_synced=True) == 50
    gate.close()  # the last connection checkpoints the WAL into the file and removes it

    raw = b"".join(p.read_bytes() for p in gate.path.parent.glob("events.db*"))
    assert key("kept").encode() in raw  # the right file was read
    assert [s for s in old if s.encode() in raw] == []
    gate.store = EventStore(gate.path)  # for the fixture's close


def hex_keys(data: bytes) -> set[str]:
    return {m.decode() for m in re.findall(rb"[0-9a-f]{32}", data)}


def test_a_running_kiosk_keeps_no_deleted_key_in_the_database_and_overwrites_its_wal(gate: Gate):
    """With the loop's connection open, as on a running kiosk (nothing checkpoints on close): right after a purge
    the database file holds no deleted subject key, but the WAL does; it is cut back to WAL_LIMIT when it restarts
    and its frames are overwritten as the kiosk writes on, so after some passages it holds none either."""
    wal = gate.path.with_name("events.db-wal")
    old = [key(f"gone-{n}") for n in range(3000)]
    reader = sqlite3.connect(gate.path)  # a long read (the status page, a doctor) holds back checkpoints
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM events").fetchone()
        ids = [gate.store.record(passage(gate.clock, subject)).event_id for subject in old]  # 30 days ago
        gate.store.mark_sent(ids, gate.clock.wall())
    finally:
        reader.close()
    assert wal.stat().st_size > 3 * WAL_LIMIT  # so the WAL grew to several times its cap
    gate.record(key("kept"), age_days=1, sent=True)

    assert Retention(gate.path, days=14).purge(NOW, clock_synced=True) == 3000
    database = hex_keys(gate.path.read_bytes())
    assert key("kept") in database  # the right file was read
    assert database & set(old) == set()
    assert hex_keys(wal.read_bytes()) & set(old)  # not yet: the purge's own WAL frames hold the old pages

    gate.clock.set_wall(NOW)
    sizes = []
    for n in range(250):  # passages: about one checkpoint's worth of WAL frames
        gate.store.record(passage(gate.clock, key(f"new-{n}")))
        sizes.append(wal.stat().st_size)
    assert hex_keys(wal.read_bytes()) & set(old) == set()
    assert min(sizes) <= WAL_LIMIT < max(sizes)  # it grew and was cut back
    assert hex_keys(gate.path.read_bytes()) & set(old) == set()


def test_retention_days_is_a_checked_option():
    assert parse_config("").store.retention_days == 14
    assert parse_config("[store]\nretention_days = 30\n").store.retention_days == 30
    with pytest.raises(Exception, match="retention_days"):
        parse_config("[store]\nretention_days = 0\n")


def test_the_sync_thread_purges_even_while_the_centre_is_unreachable(gate: Gate, tmp_path: Path):
    gate.record(key("old-sent"), age_days=20, sent=True)
    gate.record(key("old-unsent"), age_days=20, sent=False)
    clock = FakeClock(NOW)
    unreachable = CentralClient("http://127.0.0.1:9", "gate-1", Ed25519PrivateKey.generate())  # discard: refused
    worker = SyncWorker(
        database=gate.path,
        state_dir=tmp_path,
        client=unreachable,
        clock=clock,
        heartbeat=lambda store: {},
        timers=SyncTimers(poll_s=0.05),
        retention=Retention(gate.path, days=14),
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while key("old-sent") in gate.subjects() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert gate.subjects() == {key("old-unsent")}


# The centre.

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FORM = {
    "identity_type": "cccd",
    "identity_number": "001090012345",
    "phone": "0912345678",
    "symptoms": ["none"],
    "contact_confirmed": False,
    "lockdown_area": False,
    "travel": "",
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(db_url: str):
    engine = connect(db_url)
    yield engine
    engine.dispose()


def declare(engine: Engine, tmp_path: Path, at: datetime, number: str) -> str:
    key = load_pass_key(tmp_path / "pass.key", announce=False)
    with engine.begin() as conn:
        publish(conn, key, at)
        form = validate_form({**FORM, "identity_number": number})
        return submit(conn, form, secret=SECRET, pass_key=key.private, kid=key.kid, now=at, valid_h=24).declaration_id


def add_event(engine: Engine, day: date) -> None:
    event_id = str(uuid.uuid4())
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    row = {"event_id": event_id, "received_day": day, "venue_id": 1, "time": at, "time_synced": True}
    row |= {"received_at": at, "direction": "in", "kind": "cccd", "decision": "ACCEPT", "reason": "logged"}
    with engine.begin() as conn:
        conn.execute(events.insert().values(row))
        conn.execute(event_keys.insert().values(event_id=event_id, venue_id=1, received_day=day))


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_the_centres_maintenance_removes_what_is_past_its_time(engine: Engine, tmp_path: Path):
    clock = Clock(T0)
    with engine.begin() as conn:
        set_contact_public_key(conn, X25519PrivateKey.generate().public_key())
    old_declaration = declare(engine, tmp_path, T0 - timedelta(days=40), "001090012345")
    fresh_declaration = declare(engine, tmp_path, T0 - timedelta(days=2), "001090054321")
    for day in (T0.date() - timedelta(days=40), T0.date() - timedelta(days=1)):
        add_event(engine, day)
    with engine.begin() as conn:
        for age in (400, 10):
            at = T0 - timedelta(days=age)
            conn.execute(audit_log.insert().values(at=at, actor="cli:t", action="trace", subject=None, reason="r"))

    Maintenance(engine, 30, clock=clock).run_once()
    with engine.connect() as conn:
        kept = set(conn.execute(select(declarations.c.id)).scalars())
    assert kept == {fresh_declaration} and old_declaration not in kept  # its sealed phone went with it
    assert count(engine, events) == 1 and count(engine, event_keys) == 1
    assert count(engine, audit_log) == 2  # kept when no audit retention is given

    removed = Maintenance(engine, 30, audit_days=365, clock=clock).run_once()
    assert removed.audit == 1 and count(engine, audit_log) == 1

    clock.now = T0 + timedelta(days=31)  # the fresh declaration expired 30 days ago now
    Maintenance(engine, 30, clock=clock).run_once()
    assert count(engine, declarations) == 0 and count(engine, events) == 0


def test_without_retention_days_events_and_declarations_stay(engine: Engine, tmp_path: Path):
    declare(engine, tmp_path, T0 - timedelta(days=400), "001090012345")
    add_event(engine, T0.date() - timedelta(days=400))
    Maintenance(engine, None, clock=Clock(T0)).run_once()
    assert count(engine, declarations) == 1 and count(engine, events) == 1


def test_dead_sessions_login_failures_and_device_credentials_are_removed(engine: Engine):
    from central.accounts import add_account

    with engine.begin() as conn:
        account = add_account(conn, "officer", "correct horse battery", "administrator", T0)
        for token, created, seen in (("live", T0, T0), ("idle", T0 - timedelta(hours=3), T0 - timedelta(hours=3))):
            conn.execute(
                web_sessions.insert().values(
                    token_hash=token, account_id=account, csrf="c", created_at=created,
                    expires_at=created + timedelta(hours=12), last_seen_at=seen,
                )
            )  # fmt: skip
        conn.execute(
            web_sessions.insert().values(
                token_hash="expired", account_id=account, csrf="c", created_at=T0 - timedelta(hours=13),
                expires_at=T0 - timedelta(hours=1), last_seen_at=T0 - timedelta(minutes=5),
            )
        )  # fmt: skip
        for at in (T0 - timedelta(days=2), T0 - timedelta(minutes=5)):
            conn.execute(login_failures.insert().values(username="officer", address="10.0.0.9", at=at))
        for name, expires in (("old", T0 - timedelta(minutes=1)), ("live", T0 + timedelta(minutes=10))):
            conn.execute(auth_nonces.insert().values(nonce=name, device_id="d", expires_at=expires))
            conn.execute(auth_tokens.insert().values(token_hash=name, device_id="d", expires_at=expires))

    removed = Maintenance(engine, None, clock=Clock(T0)).run_once()

    with engine.connect() as conn:
        assert set(conn.execute(select(web_sessions.c.token_hash)).scalars()) == {"live"}
        assert set(conn.execute(select(auth_nonces.c.nonce)).scalars()) == {"live"}
        assert set(conn.execute(select(auth_tokens.c.token_hash)).scalars()) == {"live"}
    assert count(engine, login_failures) == 1
    assert (removed.sessions, removed.login_failures, removed.device_auth) == (2, 1, 2)


def test_audit_retention_shorter_than_event_retention_is_refused(tmp_path: Path):
    from click.testing import CliRunner

    from central.cli import cli

    db = ["--db", f"sqlite:///{tmp_path / 'c.db'}"]
    refused = CliRunner().invoke(cli, [*db, "serve", "--retention-days", "30", "--audit-retention-days", "10"])
    assert refused.exit_code == 2 and "--audit-retention-days" in refused.output
    alone = CliRunner().invoke(cli, [*db, "serve", "--audit-retention-days", "400"])
    assert alone.exit_code == 2 and "needs --retention-days" in alone.output
