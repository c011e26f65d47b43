from __future__ import annotations

import json
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from conftest import CCCD_AN, DATA, PCCOVID_AN, degrade, on_canvas, qr_image, write_images
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kiosk.app import assemble
from kiosk.camera.base import Frame
from kiosk.camera.files import ImageFolderSource
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.credentials import Identity, Kind, SubjectKeyer
from kiosk.decode.debounce import Debouncer
from kiosk.errors import KioskError, SourceError, StoreError
from kiosk.events import Event
from kiosk.hardware.gpio import GpioFeedback, GpioPins
from kiosk.loop import Gate, ScanLoop
from kiosk.secrets import load_or_create_secret
from kiosk.store import EventStore

OTHER = "079203012345||Trần Thị Bích Ngọc|15062003|Nữ|12 Lê Lợi, Bến Thành, TP. Hồ Chí Minh|10082021"
BLANK = np.full((480, 640), 130, dtype=np.uint8)


def scene(*payloads: str | bytes | None, hold: int = 4, scale: int = 4) -> list[np.ndarray]:
    """Frames of people presenting codes in turn (None: nobody), each for `hold` frames, camera-degraded."""
    frames = []
    for n, payload in enumerate(payloads):
        view = BLANK if payload is None else on_canvas(qr_image(payload, scale=scale), at=(40, 120))
        frames += [degrade(view, blur=2, noise=4, tilt=0.05, seed=n * 10 + i) for i in range(hold)]
        frames += [BLANK] * 2
    return frames


def config_for(tmp_path: Path, **decode: object) -> KioskConfig:
    return KioskConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "device": {"id": "gate-7", "venue": "BV-DAKNONG", "direction": "in"},
            "camera": {"realtime": False},
            "decode": {"decoders": ["zxing", "pyzbar"], **decode},
            "status_page": {"enabled": False},  # not under test here, and its port may be taken on a busy machine
        }
    )


def run_until_end(kiosk) -> None:
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()


class Recorder:
    """A feedback that checks, at each signal, that the event is already committed to the store."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.signalled: list[Event] = []
        self.faults: list[str] = []
        self.committed_first: list[bool] = []

    def signal(self, event: Event) -> None:
        reader = EventStore(self.db, read_only=True)
        committed = {e.event_id for e in reader.unsent(10_000)}
        reader.close()
        self.committed_first.append(event.event_id in committed)
        self.signalled.append(event)

    def fault(self, reason: str) -> None:
        self.faults.append(reason)

    def close(self) -> None:
        pass


def test_each_person_is_one_committed_event_signalled_after_the_commit(tmp_path: Path):
    config = config_for(tmp_path)
    frames = scene(CCCD_AN, None, OTHER, "https://example.vn/menu", PCCOVID_AN)
    recorder = Recorder(config.database_path)
    kiosk = assemble(
        config, source=ImageFolderSource(write_images(tmp_path / "f", frames), fps=None), feedback=recorder
    )
    run_until_end(kiosk)
    kinds = [e.kind for e in recorder.signalled]
    # The PC-Covid code is the same person as the CCCD card, but a different code: a separate passage.
    assert kinds == ["cccd", "cccd", "unknown", "pc-covid"]
    assert recorder.committed_first == [True] * 4
    assert [e.seq for e in recorder.signalled] == [1, 2, 3, 4]
    events = recorder.signalled
    assert events[0].subject_key == events[3].subject_key != events[1].subject_key
    assert events[2].subject_key is None
    assert {(e.device_id, e.venue, e.direction, e.decision, e.reason) for e in events} == {
        ("gate-7", "BV-DAKNONG", "in", "ACCEPT", "logged")
    }
    assert kiosk.metrics.frames == len(frames) and kiosk.grabber.stats.dropped == 0


def test_denylisted_person_is_refused_and_the_relay_never_moves(tmp_path: Path, mock_factory):
    secret = load_or_create_secret(tmp_path / "state" / "subject-key.secret")
    denied = SubjectKeyer(secret).key(Identity("VN-ID", "079203012345"))
    config = config_for(tmp_path).model_copy(
        update={"policy": KioskConfig().policy.model_copy(update={"denylist": [denied]})}
    )
    pins = GpioPins("GPIO22", "GPIO27", "GPIO18", "GPIO17", relay_hold_s=1.0, light_s=0.2)
    gpio = GpioFeedback(pins, pin_factory=mock_factory)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(OTHER)), fps=None)
    kiosk = assemble(config, source=source, feedback=gpio)
    run_until_end(kiosk)
    assert [int(s.state) for s in mock_factory.pin(17).states] == [0]  # gate never opened
    assert 1 in [int(s.state) for s in mock_factory.pin(27).states]  # red light shown
    store = EventStore(config.database_path, read_only=True)
    assert [(r["decision"], r["reason"]) for r in store.status().recent] == [("DENY", "denylisted")]
    store.close()


def test_accepted_person_opens_the_gate_after_the_commit(tmp_path: Path, mock_factory):
    config = config_for(tmp_path)
    pins = GpioPins("GPIO22", "GPIO27", "GPIO18", "GPIO17", relay_hold_s=1.0, light_s=0.2)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source, feedback=GpioFeedback(pins, pin_factory=mock_factory))
    kiosk.start()
    kiosk.run(threading.Event(), until_end=True)
    relay = mock_factory.pin(17)
    assert [int(s.state) for s in relay.states] == [0, 1]  # energised, holding
    deadline = time.monotonic() + 3
    while len(relay.states) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # gpiozero's assert_states_and_times zips, so the length is checked first: it would pass a relay stuck on.
    assert [int(s.state) for s in relay.states] == [0, 1, 0]
    # Released by itself after relay_hold_s; green lit for light_s. (Times are the pin's, so a loaded CI
    # machine can only make them late, never early.)
    assert 1.0 <= relay.states[2].timestamp < 1.5
    assert [int(s.state) for s in mock_factory.pin(22).states] == [0, 1, 0]
    assert 0.2 <= mock_factory.pin(22).states[2].timestamp < 0.7
    assert [int(s.state) for s in mock_factory.pin(18).states] == [0, 1, 0]  # one beep
    kiosk.close()
    assert [int(s.state) for s in relay.states] == [0, 1, 0]  # close adds nothing: already released


class BrokenStore:
    def record(self, event: Event) -> Event:
        raise StoreError("events.db: event not recorded: database or disk is full")


def test_when_the_commit_fails_the_gate_stays_shut_and_a_fault_is_shown(tmp_path: Path, mock_factory, caplog):
    config = config_for(tmp_path)
    pins = GpioPins("GPIO22", "GPIO27", "GPIO18", "GPIO17", relay_hold_s=1.0, light_s=0.2)
    gpio = GpioFeedback(pins, pin_factory=mock_factory)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source, feedback=gpio)
    kiosk.loop.store = BrokenStore()
    run_until_end(kiosk)
    assert 1 not in [int(s.state) for s in mock_factory.pin(17).states]
    assert 1 in [int(s.state) for s in mock_factory.pin(27).states]
    # Each frame showing the code tries again (the person is not ignored for the cooldown), logged once.
    assert kiosk.metrics.store_errors == 4
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        "decision not recorded, gate kept shut: events.db: event not recorded: database or disk is full"
    ]


class DamagedStore:
    def __init__(self) -> None:
        self.calls = 0

    def record(self, event: Event) -> Event:
        self.calls += 1
        raise StoreError("events.db: event not recorded: database disk image is malformed", damaged=True)


def test_a_damaged_database_ends_the_run_with_the_fault_and_the_gate_shut(tmp_path: Path, caplog):
    """Waiting mends a full disk (above: the run goes on), never a damaged file: the run ends, systemd restarts
    the kiosk, and the start sets the file aside (tests/test_corrupt_store.py)."""
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN, OTHER)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    kiosk.loop.store = store = DamagedStore()
    kiosk.start()
    try:
        with pytest.raises(StoreError, match="malformed") as caught:
            kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    assert caught.value.damaged and store.calls == 1 and kiosk.metrics.handler_errors == 0
    assert recorder.faults == ["store-damaged"] and recorder.signalled == []
    assert "the event database is damaged" in caplog.text


class FlakyStore:
    """Fails the first commit, then records (a lock held for a moment by another writer)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.calls = 0

    def record(self, event: Event) -> Event:
        self.calls += 1
        if self.calls == 1:
            raise StoreError("events.db: event not recorded: database is locked")
        return self.store.record(event)


def test_a_failed_commit_is_retried_on_the_next_frame_not_after_the_cooldown(tmp_path: Path):
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    kiosk.loop.store = FlakyStore(kiosk.store)
    run_until_end(kiosk)
    assert [e.kind for e in recorder.signalled] == ["cccd"] and recorder.faults == ["store"]


def test_a_parser_crash_is_recorded_as_unknown_and_the_loop_goes_on(tmp_path: Path, monkeypatch):
    import kiosk.credentials.verifier

    def explode(text: str):
        raise RuntimeError("bug in a parser")

    monkeypatch.setattr(kiosk.credentials.verifier, "read_credential", explode)
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN, OTHER)), fps=None)
    app = assemble(config, source=source, feedback=recorder)
    run_until_end(app)
    assert [(e.kind, e.reason) for e in recorder.signalled] == [("unknown", "logged-malformed")] * 2
    assert app.metrics.handler_errors == 2


def test_binary_payload_is_recorded_as_unknown(tmp_path: Path):
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    payload = b"\x00\x01\xfe\xff binary \x80"
    source = ImageFolderSource(write_images(tmp_path / "f", scene(payload)), fps=None)
    run_until_end(assemble(config, source=source, feedback=recorder))
    assert [e.kind for e in recorder.signalled] == ["unknown"]


def test_event_times_come_from_the_clock_and_flag_an_unsynchronised_one(tmp_path: Path):
    clock = FakeClock(wall=86_400.0, synced=False, boot_id="boot-1970")
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    run_until_end(assemble(config, source=source, feedback=recorder, clock=clock))
    (event,) = recorder.signalled
    assert (event.wall_time, event.clock_synced, event.boot_id) == (86_400.0, False, "boot-1970")


def test_latency_is_measured_from_frame_to_feedback(tmp_path: Path):
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN, OTHER)), fps=None)
    kiosk = assemble(config, source=source, feedback=recorder)
    run_until_end(kiosk)
    assert all(0 < e.latency_ms < 1000 for e in recorder.signalled)
    snapshot = kiosk.metrics.snapshot()
    assert snapshot["decisions"] == {"ACCEPT": 2} and snapshot["decision_ms"]["p95"] > 0


def test_stop_event_ends_a_looping_replay(tmp_path: Path):
    config = config_for(tmp_path).model_copy(update={"camera": KioskConfig().camera.model_copy(update={"loop": True})})
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=100, loop=True)
    kiosk = assemble(config, source=source, feedback=Recorder(config.database_path))
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    kiosk.start()
    kiosk.run(stop)
    kiosk.close()
    assert time.monotonic() - started < 2.0 and kiosk.metrics.frames > 10


@pytest.mark.parametrize("confirm", [1, 3])
def test_confirm_frames_from_config_applies(tmp_path: Path, confirm: int):
    config = config_for(tmp_path).model_copy(
        update={"debounce": KioskConfig().debounce.model_copy(update={"confirm_frames": confirm})}
    )
    recorder = Recorder(config.database_path)
    frames = scene(CCCD_AN, hold=2)  # only two frames: not enough when 3 are required
    run_until_end(
        assemble(config, source=ImageFolderSource(write_images(tmp_path / "f", frames), fps=None), feedback=recorder)
    )
    assert len(recorder.signalled) == (1 if confirm == 1 else 0)


class DeadFeed:
    """A frame feed whose capture has ended: a live camera (its thread died) or a replay."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.exhausted = True

    def next(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.01))


class SilentFeed:
    """A live camera that delivers nothing (frozen)."""

    live = True
    exhausted = False

    def next(self, timeout: float) -> None:
        time.sleep(min(timeout, 0.02))


def loop_with(tmp_path: Path, frames: object, feedback: Recorder, **kwargs: object) -> ScanLoop:
    from kiosk.builders import build_chain
    from kiosk.config import PolicyConfig
    from kiosk.credentials.trust import TrustStore
    from kiosk.decode.reader import FrameReader
    from kiosk.policy.snapshot import Bearings, Snapshot
    from kiosk.policy.statuslist import StatusList
    from kiosk.published import Published

    config, clock = config_for(tmp_path), FakeClock()
    return ScanLoop(
        frames=frames,  # type: ignore[arg-type]
        reader=FrameReader(build_chain(config.decode)),
        debouncer=Debouncer(),
        keyer=SubjectKeyer(b"0123456789abcdef0123456789abcdef"),
        lists=Published(Snapshot(TrustStore(), StatusList(), PolicyConfig(), Bearings(clock))),
        store=EventStore(config.database_path),
        feedback=feedback,
        clock=clock,
        gate=Gate("g", "v", "in"),
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_dead_camera_thread_ends_the_run_so_systemd_restarts_it(tmp_path: Path):
    loop = loop_with(tmp_path, DeadFeed(live=True), Recorder(tmp_path / "state" / "events.db"))
    with pytest.raises(SourceError, match="camera capture stopped"):
        loop.run(threading.Event())


def test_a_frozen_camera_is_signalled_as_a_fault_once(tmp_path: Path):
    recorder = Recorder(tmp_path / "state" / "events.db")
    loop = loop_with(tmp_path, SilentFeed(), recorder, stall_s=0.2)
    stop = threading.Event()
    threading.Timer(0.7, stop.set).start()
    loop.run(stop)
    assert recorder.faults == ["camera"]


class ExplodingReader:
    def read(self, frame: np.ndarray, at: float) -> None:
        raise RuntimeError("decoder bug")


def test_a_loop_failing_on_every_frame_gives_up_with_a_fault(tmp_path: Path, caplog):
    recorder = Recorder(tmp_path / "state" / "events.db")
    source = ImageFolderSource(write_images(tmp_path / "f", [BLANK] * 60), fps=None)
    config = config_for(tmp_path)
    kiosk = assemble(config, source=source, feedback=recorder)
    kiosk.loop.reader = ExplodingReader()  # type: ignore[assignment]
    kiosk.start()
    try:
        with pytest.raises(KioskError, match="50 frames in a row failed"):
            kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    assert recorder.faults == ["loop"]
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1  # throttled, not 50 tracebacks


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(min_size=1, max_size=300) | st.text(min_size=1, max_size=200).map(str.encode))
@example(payload=bytes(8))  # CI found it: eight zero bytes are in any SQLite file
def test_any_payload_is_recorded_without_its_text_and_never_crashes_the_loop(tmp_path: Path, payload: bytes):
    def recorded(payload: bytes) -> bytes:
        # A fresh kiosk per example: the fixture's tmp_path is shared by all of hypothesis's examples.
        where = Path(tempfile.mkdtemp(dir=tmp_path))
        recorder = Recorder(where / "state" / "events.db")
        loop = loop_with(where, DeadFeed(live=False), recorder)
        loop.debouncer = Debouncer(cooldown_s=0)
        events = loop.process(Frame(on_canvas(qr_image(payload, scale=2), at=(10, 10)), 0, 0.0))
        assert loop.metrics.handler_errors == 0 and len(events) == 1
        assert events[0].kind in {k.value for k in Kind} and recorder.committed_first == [True]
        loop.store.close()  # type: ignore[attr-defined]
        return (where / "state" / "events.db").read_bytes()

    database = recorded(payload)
    # Bytes any database holds whatever was read (zero runs in SQLite's pages, its header) are not a leak:
    # only a payload the same kiosk's database does not hold after reading another code counts.
    if len(payload) >= 8 and payload not in recorded(b"kiosk-control-payload"):
        assert payload not in database


def test_certificate_mode_accepts_a_genuine_certificate_and_refuses_the_rest(tmp_path: Path):
    from dccmaker import make_hc1, make_signer, trust_json

    signer, forger = make_signer("ES256"), make_signer("ES256")
    state = tmp_path / "state"
    state.mkdir()
    trust = {**trust_json(signer), "issued_at": "2021-06-30T00:00:00Z"}
    (state / "trust-list.json").write_text(json.dumps(trust))
    config = config_for(tmp_path).model_copy(
        update={"policy": KioskConfig().policy.model_copy(update={"mode": "certificate"})}
    )
    clock = FakeClock(wall=datetime(2021, 7, 1, tzinfo=UTC).timestamp())
    recorder = Recorder(config.database_path)
    frames = scene(make_hc1(signer), make_hc1(forger), CCCD_AN, hold=3)
    source = ImageFolderSource(write_images(tmp_path / "f", frames), fps=None)
    run_until_end(assemble(config, source=source, feedback=recorder, clock=clock))
    assert [(e.kind, e.decision, e.reason) for e in recorder.signalled] == [
        ("eu-dcc", "ACCEPT", "certificate-ok"),
        ("eu-dcc", "DENY", "unknown-signer"),
        ("cccd", "DENY", "certificate-required"),
    ]


def test_a_pi_booted_at_1970_judges_certificates_no_earlier_than_its_trust_list(tmp_path: Path):
    from dccmaker import T0, make_hc1, make_signer, trust_json

    signer = make_signer("ES256", days=30)
    state = tmp_path / "state"
    state.mkdir()
    issued = T0 + timedelta(days=400)  # the list was issued after this certificate expired
    (state / "trust-list.json").write_text(json.dumps({**trust_json(signer), "issued_at": issued.isoformat()}))
    config = config_for(tmp_path).model_copy(
        update={"policy": KioskConfig().policy.model_copy(update={"mode": "certificate"})}
    )
    recorder = Recorder(config.database_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(make_hc1(signer))), fps=None)
    run_until_end(assemble(config, source=source, feedback=recorder, clock=FakeClock(wall=0.0, synced=False)))
    assert [(e.decision, e.reason, e.clock_synced) for e in recorder.signalled] == [("DENY", "expired", False)]


def test_a_smart_health_card_split_over_three_codes_is_one_passage(tmp_path: Path):
    parts = [(DATA / "shc" / f"example-02-f-qr-code-numeric-value-{i}.txt").read_text().strip() for i in range(3)]
    config = config_for(tmp_path)
    recorder = Recorder(config.database_path)
    frames = scene(parts[1], parts[0], parts[2], hold=3, scale=2)  # big symbols: version 22
    run_until_end(
        assemble(config, source=ImageFolderSource(write_images(tmp_path / "f", frames), fps=None), feedback=recorder)
    )
    assert [(e.kind, e.decision) for e in recorder.signalled] == [("shc", "ACCEPT")]
