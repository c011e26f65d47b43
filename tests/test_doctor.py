"""`kiosk doctor` (issue 6): every check made to fail or warn on purpose, each reporting its fix; the happy path
against a real central server on loopback; a hung check reported, not waited for; exit codes from a real process."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import on_canvas, qr_image, write_images
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_store import make_event

from central.admin import make_enroll_code, revoke_device
from central.lists import import_trust, set_status
from central.timeutil import utcnow
from kiosk.app import sync_once
from kiosk.builders import HardwareError, build_decoder
from kiosk.clock import FakeClock
from kiosk.config import KioskConfig
from kiosk.decode.base import Reading
from kiosk.demo.central import LocalCentral
from kiosk.ops import doctorchecks
from kiosk.ops.doctor import (
    Check,
    CheckResult,
    DoctorContext,
    check_backlog,
    check_device_key,
    check_enrolment,
    check_server,
    check_status_list,
    check_subject_key,
    check_trust_list,
    run_check,
    run_doctor,
)
from kiosk.ops.doctorchecks import (
    check_audio,
    check_camera,
    check_clock,
    check_database,
    check_decoders,
    check_disk,
    check_gpio,
)
from kiosk.store import EventStore
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import Enrolment, save_enrolment

SECRET = bytes(range(32))
NOW = 1_750_000_000.0  # FakeClock's default wall time


def make_config(tmp_path: Path, **sections: Any) -> KioskConfig:
    """A config with its state in tmp_path/state and a replay of three QR frames as the camera."""
    replay = tmp_path / "replay"
    if not replay.exists():
        write_images(replay, [on_canvas(qr_image(f"frame {i}")) for i in range(3)])
    data: dict[str, Any] = {"state_dir": str(tmp_path / "state"), "camera": {"source": str(replay), "fps": 15}}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return KioskConfig.model_validate(data)


def context(config: KioskConfig, *, offline: bool = False, clock: FakeClock | None = None) -> DoctorContext:
    return DoctorContext(config, None, offline=offline, clock=clock or FakeClock(NOW), sample_s=0.3)


def assert_problem(result: CheckResult, status: str, *, detail: str, fix: str) -> None:
    assert result.status == status, result
    assert detail in result.detail, result.detail
    assert result.fix is not None and fix in result.fix, result.fix


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", "doctor", *args], capture_output=True, text=True, timeout=60, check=False
    )


def write_config(tmp_path: Path, text: str = "") -> Path:
    replay = tmp_path / "replay"
    write_images(replay, [on_canvas(qr_image(f"frame {i}")) for i in range(3)])
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[camera]\nsource = "{replay}"\n{text}', encoding="utf-8")
    return path


# camera


@pytest.mark.parametrize(
    ("source", "detail", "fix"),
    [
        ("{tmp}/no-such-film.mp4", "no such video file", "camera.source"),
        ("/dev/video97", "cannot open", "v4l2-ctl --list-devices"),
        ("picamera2", "picamera2 is not installed", "python3-picamera2"),
    ],
)
def test_camera_that_does_not_exist_fails_with_its_fix(tmp_path: Path, source: str, detail: str, fix: str) -> None:
    config = make_config(tmp_path, camera={"source": source.format(tmp=tmp_path)})
    assert_problem(check_camera(context(config)), "fail", detail=detail, fix=fix)


def test_camera_folder_without_images_fails(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    config = make_config(tmp_path, camera={"source": str(tmp_path / "empty")})
    assert_problem(check_camera(context(config)), "fail", detail="no image files", fix="folder of images")


def test_camera_replay_is_said_to_be_a_replay(tmp_path: Path) -> None:
    result = check_camera(context(make_config(tmp_path)))
    assert result.status == "ok"
    assert "a replay, not a camera; 3 frames" in result.detail


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Any:
    from fakes import picamera2

    picamera2.instances.clear()
    picamera2.frame_image = None
    picamera2.fail_after = None
    picamera2.fail_start = False
    monkeypatch.setitem(sys.modules, "picamera2", picamera2)
    return picamera2


def test_pi_camera_delivering_frames_is_ok_with_its_rate(tmp_path: Path, fake_picamera2: Any) -> None:
    result = check_camera(context(make_config(tmp_path, camera={"source": "picamera2"})))
    assert result.status == "ok", result
    assert result.detail.startswith("picamera2 camera 0: ") and "fps (camera.fps 15)" in result.detail


def test_pi_camera_held_by_the_running_kiosk_fails_with_stop_it(tmp_path: Path, fake_picamera2: Any) -> None:
    fake_picamera2.fail_start = True
    result = check_camera(context(make_config(tmp_path, camera={"source": "picamera2"})))
    assert_problem(result, "fail", detail="Device or resource busy", fix="sudo systemctl stop kiosk")


def test_camera_failing_after_it_opened_fails(tmp_path: Path, fake_picamera2: Any) -> None:
    fake_picamera2.fail_after = 2
    result = check_camera(context(make_config(tmp_path, camera={"source": "picamera2"})))
    assert_problem(result, "fail", detail="opened, then failed: picamera2 camera 0: capture failed", fix="ribbon")


class SlowCamera:
    """A live camera delivering 5 frames per second, whatever it was asked for (a dark scene, a long exposure)."""

    name = "camera /dev/video0"
    live = True
    pace_fps = None

    def open(self) -> None:
        pass

    def read(self) -> Any:
        time.sleep(0.2)
        return on_canvas(qr_image("slow"))

    def close(self) -> None:
        pass


def test_camera_under_half_its_rate_warns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctorchecks, "build_source", lambda spec, camera: SlowCamera())
    config = make_config(tmp_path, camera={"source": "/dev/video0", "fps": 15})
    ctx = DoctorContext(config, None, clock=FakeClock(NOW), sample_s=0.5)
    assert_problem(check_camera(ctx), "warn", detail="under half the rate asked", fix="more light")


# decoders


class BrokenDecoder:
    """A decoder whose library is broken: it raises on every image."""

    name = "broken"

    def read(self, image: object) -> Reading:
        raise RuntimeError("symbol lookup error")


class BlindDecoder:
    """A decoder that loads but reads nothing."""

    name = "blind"

    def read(self, image: object) -> Reading:
        return Reading()


def test_every_decoder_reads_the_built_in_code(tmp_path: Path) -> None:
    config = make_config(tmp_path, decode={"decoders": ["zxing", "pyzbar", "opencv"]})
    result = check_decoders(context(config))
    assert result.status == "ok", result
    assert result.detail.count("reads the test code") == 3


@pytest.mark.parametrize(
    ("broken", "decoder", "status", "fix"),
    [
        ("zxing", BrokenDecoder(), "fail", "decode.decoders"),
        ("pyzbar", BrokenDecoder(), "warn", "remove pyzbar from decode.decoders"),
        ("pyzbar", BlindDecoder(), "warn", "remove pyzbar from decode.decoders"),
    ],
)
def test_a_broken_decoder_fails_as_primary_and_warns_as_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str, decoder: object, status: str, fix: str
) -> None:
    monkeypatch.setattr(doctorchecks, "build_decoder", lambda name: decoder if name == broken else build_decoder(name))
    config = make_config(tmp_path, decode={"decoders": ["zxing", "pyzbar"]})
    result = check_decoders(context(config))
    assert_problem(result, status, detail=f"{broken} (", fix=fix)
    wanted = "fails: RuntimeError: symbol lookup error" if isinstance(decoder, BrokenDecoder) else "cannot read the"
    assert wanted in result.detail


def test_a_fallback_whose_library_is_missing_warns_with_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build(name: str) -> object:
        raise HardwareError("pyzbar cannot load libzbar (libzbar.so.0: not found): apt install libzbar0")

    monkeypatch.setattr(
        doctorchecks, "build_decoder", lambda name: build(name) if name == "pyzbar" else build_decoder(name)
    )
    result = check_decoders(context(make_config(tmp_path, decode={"decoders": ["opencv", "pyzbar"]})))
    assert_problem(result, "warn", detail="pyzbar (fallback) cannot load", fix="apt install libzbar0")
    assert "opencv reads the test code" in result.detail


# GPIO


def test_gpio_factory_that_cannot_start_fails_with_its_message(tmp_path: Path) -> None:
    config = make_config(tmp_path, feedback={"outputs": ["gpio"], "gpio": {"pin_factory": "lgpio"}})
    result = check_gpio(context(config))
    assert_problem(result, "fail", detail="GPIO pin factory 'lgpio' cannot start here: No module named", fix="lgpio")
    auto = make_config(tmp_path, feedback={"outputs": ["gpio"], "gpio": {"pin_factory": "auto"}})
    assert_problem(check_gpio(context(auto)), "fail", detail="pin_factory auto: none starts here", fix='"mock"')


def test_gpio_mocked_warns_and_gpio_not_used_is_skipped(tmp_path: Path) -> None:
    mocked = make_config(tmp_path, feedback={"outputs": ["wiegand"], "gpio": {"pin_factory": "mock"}})
    assert_problem(check_gpio(context(mocked)), "warn", detail="simulated", fix='pin_factory = "auto"')
    assert check_gpio(context(make_config(tmp_path))).status == "skip"


def test_gpio_chip_not_writable_says_which_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "gpiochip0").touch()
    monkeypatch.setattr(doctorchecks, "_DEV", tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as root, everything is allowed
    assert_problem(doctorchecks._chip_access(), "fail", detail="gpiochip0: not readable", fix="usermod -aG gpio")
    monkeypatch.setattr(doctorchecks, "_DEV", tmp_path / "nothing")
    assert_problem(doctorchecks._chip_access(), "fail", detail="no ", fix="Raspberry Pi")


# audio


def test_voice_with_a_missing_player_fails(tmp_path: Path) -> None:
    config = make_config(tmp_path, feedback={"outputs": ["voice"], "voice": {"player": ["no-such-player"]}})
    result = check_audio(context(config))
    assert_problem(
        result, "fail", detail="feedback.voice.player: no-such-player not found", fix="feedback.voice.player"
    )
    assert "espeak-ng renders" in result.detail


def test_voice_without_espeak_fails_with_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    config = make_config(tmp_path, feedback={"outputs": ["voice"]})
    assert_problem(
        check_audio(context(config)), "fail", detail="espeak-ng is not installed", fix="apt install espeak-ng"
    )


def test_no_sound_card_warns_that_tones_play(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    aplay = fake / "aplay"
    aplay.write_text("#!/bin/sh\necho 'aplay: device_list:274: no soundcards found...' >&2\n", encoding="utf-8")
    aplay.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    assert_problem(doctorchecks.sound_card(), "warn", detail="tones instead of voice", fix="aplay -l")


# disk, database, clock


class Usage(NamedTuple):
    total: int
    used: int
    free: int


@pytest.mark.parametrize(("free_mb", "status"), [(10, "fail"), (200, "warn"), (5000, "ok")])
def test_disk_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free_mb: int, status: str) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(2**40, 0, free_mb * 2**20))
    result = check_disk(context(make_config(tmp_path)))
    assert result.status == status
    assert f"{free_mb:,} MB free" in result.detail
    assert status == "ok" or "journalctl --vacuum-size" in str(result.fix)


def fill_database(path: Path, events: int = 300) -> None:
    store = EventStore(path)
    try:
        for i in range(events):
            store.record(make_event(wall_time=NOW - i))
    finally:
        store.close()


def test_database_with_garbage_pages_fails_without_crashing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fill_database(config.database_path)
    data = bytearray(config.database_path.read_bytes())
    assert len(data) > 4 * 4096
    data[2 * 4096 : 4 * 4096] = os.urandom(2 * 4096)  # the header page stays: it opens, integrity_check finds damage
    config.database_path.write_bytes(bytes(data))
    assert_problem(check_database(context(config)), "fail", detail="events.db", fix="sudo systemctl stop kiosk")


def test_database_that_is_not_sqlite_fails_and_missing_is_fresh(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert check_database(context(config)).detail.endswith("no database yet (a fresh kiosk: made at the first start)")
    config.state_dir.mkdir(parents=True)
    config.database_path.write_bytes(os.urandom(3 * 4096))
    assert_problem(check_database(context(config)), "fail", detail="cannot be read", fix="copy")
    assert run_check(Check("backlog", check_backlog), context(config)).status == "fail"  # reported, not raised


def test_database_healthy(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    fill_database(config.database_path, 5)
    assert check_database(context(config)).detail.endswith("integrity_check ok")


def test_clock(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    never_set = check_clock(context(config, clock=FakeClock(1_600_000_000.0)))
    assert_problem(never_set, "fail", detail="reads 2020-09-13", fix="timedatectl set-ntp true")
    adrift = check_clock(context(config, clock=FakeClock(NOW, synced=False)))
    assert_problem(adrift, "warn", detail="not synchronised", fix="chronyc tracking")
    assert check_clock(context(config)).status == "ok"


# enrolment, device key, server


def write_key(state: Path, mode: int) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    key = state / "device.key"
    key.write_bytes(os.urandom(32))
    key.chmod(mode)
    return key


def test_device_key_readable_by_others_fails_with_chmod_even_offline(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    key = write_key(config.state_dir, 0o644)
    result = check_device_key(context(config, offline=True))
    assert_problem(result, "fail", detail="mode 0644", fix=f"chmod 600 {key}")
    key.chmod(0o600)
    assert check_device_key(context(config, offline=True)).status == "ok"


def write_secret(path: Path, mode: int, text: str = "ab" * 32) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="ascii")
    path.chmod(mode)
    return path


def test_subject_key_secret_readable_by_group_fails_with_chmod_even_offline(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert check_subject_key(context(config, offline=True)).status == "skip"  # not made yet
    secret = write_secret(config.secret_path, 0o640)
    result = check_subject_key(context(config, offline=True))
    assert_problem(result, "fail", detail="mode 0640: group or others can read", fix=f"chmod 600 {secret}")
    secret.chmod(0o600)
    assert check_subject_key(context(config, offline=True)).status == "ok"


def test_subject_key_secret_that_is_not_hex_fails(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    secret = write_secret(config.secret_path, 0o600, "not a secret")
    assert_problem(check_subject_key(context(config)), "fail", detail="hex digits", fix=f"mv {secret} {secret}.broken")


def test_key_and_secret_owned_by_another_user_fail_with_chown(tmp_path: Path) -> None:
    """Owned by another user than the kiosk's (the state directory's owner): given to nobody when the tests run as
    root; otherwise the state directory is root's "/" and only the secret, kept elsewhere, can be tried."""
    import pwd

    secret = write_secret(tmp_path / "elsewhere" / "subject-key.secret", 0o600)
    files = {check_subject_key: secret}
    if os.geteuid() == 0:
        state = tmp_path / "state"
        files[check_device_key] = write_key(state, 0o600)
        for path in files.values():
            os.chown(path, 65534, 65534)
    else:
        state = Path("/")
    config = KioskConfig.model_validate({"state_dir": str(state), "identity": {"secret_file": str(secret)}})
    owner = pwd.getpwuid(state.stat().st_uid).pw_name
    for check, path in files.items():
        result = check(context(config))
        assert_problem(result, "fail", detail=f"not by {owner} who owns {state}", fix=f"sudo chown {owner}: {path}")
        assert "chmod" not in (result.fix or "")


def test_not_enrolled_warns_with_the_enrol_command(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    result = check_enrolment(context(config))
    assert_problem(
        result,
        "warn",
        detail="not enrolled",
        fix=f"kiosk enroll --server URL --code CODE --state-dir {config.state_dir}",
    )
    assert check_enrolment(context(config, offline=True)).status == "skip"
    assert check_server(context(config)).status == "skip"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_server_down_fails_with_the_network_to_check(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_key(config.state_dir, 0o600)
    save_enrolment(config.state_dir, Enrolment(f"http://127.0.0.1:{closed_port()}", "dev-1", "BV-01"))
    assert_problem(
        check_server(context(config)), "fail", detail="not reachable (ConnectionError)", fix="enrollment.json"
    )
    assert check_server(context(config, offline=True)).status == "skip"


def test_missing_ca_bundle_fails(tmp_path: Path) -> None:
    config = make_config(tmp_path, sync={"ca_bundle": str(tmp_path / "ca.pem")})
    write_key(config.state_dir, 0o600)
    save_enrolment(config.state_dir, Enrolment("https://central.invalid", "dev-1", "BV-01"))
    assert_problem(check_server(context(config)), "fail", detail="ca.pem: no such file", fix="sync.ca_bundle")


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCentral]:
    with LocalCentral(tmp_path_factory.mktemp("central"), SECRET) as server:
        server.venue_with_code(("67", "Tỉnh Đắk Nông"), ("BV-DN", "Bệnh viện Đắk Nông"), "hospital")
        key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        with server.engine.begin() as conn:  # lists for the kiosks to fetch: a trust list with an issue time
            import_trust(conn, {"pass_keys": [{"kid": "a2lk", "public_key": base64.b64encode(key).decode()}]}, utcnow())
            set_status(conn, "0123456789abcdef0123456789abcdef", "red", None, utcnow())
        yield server


def enrol(central: LocalCentral, config: KioskConfig) -> str:
    with central.engine.begin() as conn:
        code = make_enroll_code(conn, "BV-DN", utcnow())
    return enrol_device(config, central.url, code, None).device_id


def test_revoked_device_fails_saying_revoked(tmp_path: Path, central: LocalCentral) -> None:
    config = make_config(tmp_path)
    device_id = enrol(central, config)
    assert check_server(context(config)).status == "ok"
    with central.engine.begin() as conn:
        revoke_device(conn, device_id, utcnow())
    result = check_server(context(config))
    assert_problem(result, "fail", detail="revoked", fix="kiosk enroll")
    assert "reachable" in result.detail  # the server is up: it is this device it refuses


def test_happy_path_on_a_replay_enrolled_and_served_exits_0(tmp_path: Path, central: LocalCentral) -> None:
    config_file = write_config(
        tmp_path, '[feedback]\noutputs = ["console", "gpio"]\n[feedback.gpio]\npin_factory = "mock"\n'
    )
    state = tmp_path / "state"
    kiosk = KioskConfig.model_validate({"state_dir": str(state)})
    enrol(central, kiosk)
    fill_database(state / "events.db", 3)
    assert sync_once(kiosk)["remaining"] == 0  # brings the status list
    done = doctor("--config", str(config_file), "--state-dir", str(state), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert set(report) == {"ok", "checks"}
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in ("ok", "warn", "skip"), check
        assert (check["fix"] is None) == (check["status"] in ("ok", "skip")), check
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["camera"] == statuses["server"] == statuses["enrolment"] == statuses["device-key"] == "ok"
    assert statuses["trust-list"] == statuses["status-list"] == statuses["database"] == statuses["backlog"] == "ok"
    assert [c["name"] for c in report["checks"]][:2] == ["config", "camera"]


# lists and backlog


def write_trust_list(config: KioskConfig, age: timedelta) -> None:
    config.state_dir.mkdir(parents=True, exist_ok=True)
    issued = datetime.fromtimestamp(NOW, UTC) - age
    config.trust_list_path.write_text(json.dumps({"issued_at": issued.isoformat()}), encoding="utf-8")


def test_trust_list_age_against_the_policy(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert_problem(check_trust_list(context(config)), "warn", detail="no trust list yet", fix="kiosk sync --once")
    write_trust_list(config, timedelta(days=10))
    stale = check_trust_list(context(config))
    assert_problem(stale, "fail", detail="issued 240 h ago", fix="kiosk sync --once")
    assert "trust_list_max_h (168 h)" in stale.detail
    write_trust_list(config, timedelta(days=2))
    assert_problem(check_trust_list(context(config)), "warn", detail="trust_list_warn_h (24 h)", fix="sync --once")
    write_trust_list(config, timedelta(hours=1))
    assert check_trust_list(context(config)).status == "ok"
    config.trust_list_path.write_text("{not json", encoding="utf-8")
    assert_problem(check_trust_list(context(config)), "fail", detail="cannot read the trust list", fix="mv ")


def test_status_list_version_or_its_problem(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert_problem(check_status_list(context(config)), "warn", detail="no status list yet", fix="sync --once")
    config.state_dir.mkdir(parents=True)
    config.status_list_path.write_text(json.dumps({"version": 7, "entries": []}), encoding="utf-8")
    assert check_status_list(context(config)).detail.endswith("version 7, 0 entries, issued unknown")
    config.status_list_path.write_text(json.dumps({"entries": [{"subject_key": "x"}]}), encoding="utf-8")
    assert_problem(check_status_list(context(config)), "fail", detail="entries[0]", fix="sync --once")


def test_backlog_older_than_a_day_warns(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert check_backlog(context(config)).detail == "no events recorded yet"
    store = EventStore(config.database_path)
    store.record(make_event(wall_time=NOW - 2 * 86400))
    store.record(make_event(wall_time=NOW - 60))
    store.close()
    result = check_backlog(context(config))
    assert_problem(result, "warn", detail="2 events, 2 not sent yet, the oldest 48.0 h old", fix="kiosk enroll")
    save_enrolment(config.state_dir, Enrolment("http://127.0.0.1:1", "dev-1", "BV-01"))
    assert "sync --once" in str(check_backlog(context(config)).fix)


# the runner


def test_a_hung_check_is_reported_and_the_doctor_still_ends(tmp_path: Path) -> None:
    release = threading.Event()

    def hangs(ctx: DoctorContext) -> CheckResult:
        release.wait(30)  # a camera blocked in its driver
        return doctorchecks.ok("never seen")

    def raises(ctx: DoctorContext) -> CheckResult:
        raise ValueError("a bug in a check")

    checks = [
        Check("camera", hangs, timeout_s=0.5, stuck_fix="unplug and replug it"),
        Check("buggy", raises),
        Check("clock", check_clock),
    ]
    started = time.monotonic()
    try:
        report = run_doctor(context(make_config(tmp_path)), checks)
    finally:
        release.set()
    assert time.monotonic() - started < 2.0
    camera, buggy, clock = report.results
    assert (camera.name, camera.status, camera.detail, camera.fix) == (
        "camera",
        "fail",
        "did not finish within 0.5 s",
        "unplug and replug it",
    )
    assert_problem(buggy, "fail", detail="ValueError: a bug in a check", fix="--json")
    assert clock.status == "ok"
    assert not report.ok
    assert report.summary() == "2 failed, 1 ok"
    assert "✗ camera" in report.render() and "fix: unplug and replug it" in report.render()


# the command line


def test_cli_exit_codes(tmp_path: Path) -> None:
    key = write_key(tmp_path / "state", 0o644)
    config_file = write_config(tmp_path)
    failed = doctor("--offline", "--config", str(config_file), "--state-dir", str(tmp_path / "state"))
    assert failed.returncode == 1, failed.stderr
    lines = failed.stdout.splitlines()
    assert any(line.startswith("✓ camera") and "a replay" in line for line in lines)
    assert any(line.startswith("✗ device-key") for line in lines)
    assert f"fix: chmod 600 {key}" in failed.stdout
    assert "- server" in failed.stdout and "skipped (--offline)" in failed.stdout
    assert lines[-1].startswith("1 failed")

    bad = tmp_path / "bad.toml"
    bad.write_text("[camera]\nfps = 0\n", encoding="utf-8")
    broken = doctor("--config", str(bad))
    assert broken.returncode == 2
    assert "config error" in broken.stderr and "camera.fps" in broken.stderr
