from __future__ import annotations

import itertools
import json
import os
import random
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from sqlalchemy import select
from test_loop import scene

from central.lists import set_status
from central.schema import devices
from central.timeutil import utcnow
from kiosk.app import assemble
from kiosk.camera.files import ImageFolderSource
from kiosk.config import KioskConfig
from kiosk.credentials import Identity, SubjectKeyer
from kiosk.demo.central import LocalCentral
from kiosk.store import EventStore
from kiosk.sync.backoff import Backoff, retry_after_seconds
from kiosk.sync.configsync import apply_config, merge_status, status_version
from kiosk.sync.effective import with_central_policy
from kiosk.sync.enrol import enrol_device
from kiosk.sync.identity import write_atomic

SECRET = bytes(range(32))


def test_backoff_is_full_jitter_up_to_a_cap_and_honours_retry_after():
    backoff = Backoff(base_s=1, cap_s=8, rng=random.Random(3))
    delays = [backoff.delay() for _ in range(8)]
    assert all(0 <= d <= min(8, 2**i) for i, d in enumerate(delays))
    assert max(delays[4:]) <= 8 and len(set(delays)) == 8  # jittered, not a fixed ladder
    assert backoff.delay(retry_after=30) >= 30
    backoff.reset()
    assert backoff.delay() <= 1


class TopOfRange(random.Random):
    """Full jitter's longest wait: every draw is the top of its range, so a schedule can be read off exactly."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_a_failure_after_successes_is_retried_within_a_round_trip():
    """Issue 12, item 17: one failed upload among successes backed the whole queue off for up to 1 s."""
    backoff = Backoff(rng=TopOfRange())
    assert backoff.delay() <= 0.05
    for _ in range(6):
        backoff.delay()
    backoff.reset()  # an upload went through: the next failure is sporadic again
    assert backoff.delay() <= 0.05


def test_consecutive_failures_double_the_wait_up_to_the_cap():
    backoff = Backoff(rng=TopOfRange())
    ceilings = [backoff.delay() for _ in range(20)]
    capped = ceilings.index(300.0)
    assert all(b == 2 * a for a, b in itertools.pairwise(ceilings[:capped])), ceilings
    assert ceilings[capped:] == [300.0] * (20 - capped)
    assert capped <= 14  # a centre that keeps failing is at the cap within a few minutes
    assert sum(ceilings[:capped]) >= 200  # ...and not at once: the ramp spans minutes, not a burst


def test_a_centre_down_for_three_days_gets_about_one_attempt_per_half_cap():
    """Full jitter at the cap averages cap/2 between attempts; the quick first retries add only a handful."""
    backoff, now, attempts = Backoff(rng=random.Random(3)), 0.0, 0
    while now < 3 * 86400:
        now += backoff.delay()
        attempts += 1
    assert attempts < 3 * 86400 / (backoff.cap_s / 2) * 1.1 + 20


def test_retry_after_is_honoured_in_full_even_for_a_first_failure():
    backoff = Backoff(rng=TopOfRange())
    assert backoff.delay(retry_after=1) == 1  # not the quick retry of a sporadic failure
    backoff.reset()
    assert backoff.delay(retry_after=30) == 30


def test_the_wait_counts_from_the_start_of_the_failed_attempt_but_retry_after_from_its_answer():
    """A request that hung until its timeout has already kept away from the centre that long (as gRPC's
    connection backoff counts from the attempt's start); a Retry-After is about the answer, so it is not cut."""
    backoff = Backoff(base_s=1, rng=TopOfRange())
    assert backoff.delay(spent_s=2.0) == 0  # ceiling 1 s, and 2 s spent timing out
    assert backoff.delay(spent_s=0.5) == 1.5  # ceiling 2 s
    assert backoff.delay(retry_after=3, spent_s=20) == 3


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds("Thu, 26 Nov 2026 08:00:12 GMT", now) == 12
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert retry_after_seconds("999999") == 3600  # a server cannot park a kiosk for days


def test_atomic_write_replaces_whole_files_with_the_mode_asked(tmp_path: Path):
    target = tmp_path / "secret"
    write_atomic(target, b"one", mode=0o600)
    write_atomic(target, b"two", mode=0o600)
    assert target.read_bytes() == b"two" and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]  # no temporary left behind


def test_config_with_a_broken_list_keeps_the_previous_copy(tmp_path: Path):
    good = {"status_list": {"entries": [{"subject_key": "a" * 32, "status": "red"}]}, "policy": {"mode": "identity"}}
    assert apply_config(tmp_path, good)
    broken = {"status_list": {"entries": [{"subject_key": "nope", "status": "red"}]}, "trust_list": {"certificates": 5}}
    assert not apply_config(tmp_path, broken)
    assert json.loads((tmp_path / "status-list.json").read_text())["entries"][0]["subject_key"] == "a" * 32
    assert not (tmp_path / "trust-list.json").exists()


def test_status_changes_are_laid_over_the_kiosks_copy(tmp_path: Path):
    a, b, c = ("a" * 32, "b" * 32, "c" * 32)
    whole = {"version": 3, "full": True, "entries": [{"subject_key": k, "status": "red"} for k in (a, b, c)]}
    assert merge_status(tmp_path, whole) and status_version(tmp_path) == 3
    changes = {"version": 5, "full": False, "entries": [{"subject_key": b, "status": "yellow"}], "cleared": [a]}
    assert merge_status(tmp_path, changes) and status_version(tmp_path) == 5
    entries = json.loads((tmp_path / "status-list.json").read_text())["entries"]
    assert sorted((e["subject_key"], e["status"]) for e in entries) == [(b, "yellow"), (c, "red")]
    broken = {"version": 6, "full": False, "entries": [{"subject_key": "nope", "status": "red"}]}
    assert not merge_status(tmp_path, broken) and status_version(tmp_path) == 5  # the copy stays as it was


def test_the_centres_venue_policy_overrides_the_file_unless_unusable(tmp_path: Path):
    config = KioskConfig.model_validate({"state_dir": str(tmp_path)})
    apply_config(tmp_path, {"policy": {"mode": "certificate", "test_max_age_h": 48}})
    policy = with_central_policy(config).policy
    assert (policy.mode, policy.test_max_age_h) == ("certificate", 48)
    apply_config(tmp_path, {"policy": {"mode": "anything goes"}})
    assert with_central_policy(config).policy.mode == "log-only"


def test_the_centres_relay_time_and_language_shape_the_outputs_and_the_rest_stays_policy(tmp_path: Path):
    config = KioskConfig.model_validate({"state_dir": str(tmp_path)})
    rules = {"mode": "access", "strangers": "visitor", "relay_hold_s": 5, "language": "en"}
    apply_config(tmp_path, {"policy": rules})
    effective = with_central_policy(config)
    assert (effective.policy.mode, effective.policy.strangers) == ("access", "visitor")
    assert (effective.feedback.language, effective.feedback.gpio.relay_hold_s) == ("en", 5)
    apply_config(tmp_path, {"policy": {"mode": "access", "relay_hold_s": 60, "language": "fr"}})
    effective = with_central_policy(config)  # an unusable relay time or language: the file's, the mode still set
    assert (effective.policy.mode, effective.feedback.language, effective.feedback.gpio.relay_hold_s) == (
        "access",
        "vi",
        3.0,
    )


@pytest.fixture
def central(tmp_path: Path):
    with LocalCentral(tmp_path, SECRET) as server:
        yield server


def kiosk_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=120)


def test_enrol_run_and_sync_through_the_command_line(tmp_path: Path, central: LocalCentral):
    code = central.venue_with_code(("67", "Đắk Nông"), ("CHO-GN", "Chợ Gia Nghĩa"), "market")
    state = tmp_path / "kiosk"
    enrolled = kiosk_cli("enroll", "--server", central.url, "--code", code, "--state-dir", str(state))
    assert enrolled.returncode == 0, enrolled.stderr
    assert stat.S_IMODE((state / "device.key").stat().st_mode) == 0o600
    assert (state / "subject-key.secret").read_text().strip() == SECRET.hex()
    again = kiosk_cli("enroll", "--server", central.url, "--code", code, "--state-dir", str(tmp_path / "other"))
    assert again.returncode == 1 and "already used" in again.stderr
    frames = write_images(tmp_path / "frames", scene(CCCD_AN, "https://example.vn"))
    config = tmp_path / "k.toml"
    config.write_text("[camera]\nrealtime = false\n[sync]\nenabled = false\n")  # upload only when asked
    run = kiosk_cli("run", "--config", str(config), "--source", str(frames), "--state-dir", str(state), "--until-end")
    assert run.returncode == 0, run.stderr
    synced = kiosk_cli("sync", "--once", "--json", "--config", str(config), "--state-dir", str(state))
    report = json.loads(synced.stdout)
    assert (report["uploaded"], report["remaining"], report["error"]) == (2, 0, None)
    device_id = json.loads((state / "enrollment.json").read_text())["device_id"]
    assert central.events_held(device_id) == 2
    with central.engine.begin() as conn:
        beat = conn.execute(select(devices.c.last_heartbeat).where(devices.c.id == device_id)).scalar_one()
    assert beat["backlog"] == 0


def test_sync_without_enrolment_says_what_to_do(tmp_path: Path):
    result = kiosk_cli("sync", "--once", "--state-dir", str(tmp_path))
    assert result.returncode == 1 and "kiosk enroll --server URL --code CODE" in result.stderr


def test_a_running_kiosk_takes_up_a_new_status_list_without_restarting(tmp_path: Path, central: LocalCentral):
    code = central.venue_with_code(("67", "Đắk Nông"), ("BV", "Bệnh viện"), "hospital")
    config = KioskConfig.model_validate(
        {"state_dir": str(tmp_path / "k"), "camera": {"realtime": False}, "policy": {"mode": "identity"}}
    )
    enrol_device(config, central.url, code, None)
    key = SubjectKeyer(SECRET).key(Identity("VN-ID", CCCD_AN.split("|")[0]))
    with central.engine.begin() as conn:
        set_status(conn, key, "red", utcnow() + timedelta(days=1), utcnow())
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None)
    kiosk = assemble(config, source=source)
    assert kiosk.sync is not None and kiosk.sync.pull_config()  # what the sync thread does every config_s
    kiosk.start()
    try:
        kiosk.run(threading.Event(), until_end=True)
    finally:
        kiosk.close()
    (row,) = EventStore(config.database_path, read_only=True).status().recent
    assert (row["decision"], row["reason"]) == ("DENY", "status-red")
    assert os.path.exists(config.state_dir / "status-list.json")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, PEM: the centre's TLS in a test."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "central.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "central.pem", directory / "central.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls_with_a_ca_bundle_and_refusal_without(tmp_path: Path):
    cert, key = self_signed(tmp_path)
    with LocalCentral(tmp_path, SECRET, tls=(cert, key)) as server:
        code = server.venue_with_code(("67", "Đắk Nông"), ("V", "Venue"), "office")
        assert server.url.startswith("https://")
        refused = kiosk_cli("enroll", "--server", server.url, "--code", code, "--state-dir", str(tmp_path / "a"))
        assert refused.returncode == 1 and "cannot reach" in refused.stderr  # an unknown certificate is refused
        state = tmp_path / "b"
        args = ("--server", server.url, "--code", code, "--ca-bundle", str(cert), "--state-dir", str(state))
        assert kiosk_cli("enroll", *args).returncode == 0
        synced = kiosk_cli("sync", "--once", "--json", "--state-dir", str(state))
        assert json.loads(synced.stdout)["error"] is None  # the bundle kept from enrolment is used


def test_an_unchanged_answer_confirms_the_lists_so_their_age_is_since_the_centre_last_said_so(
    tmp_path: Path, central: LocalCentral
):
    # Signers are added rarely: a list the centre confirmed an hour ago is current, however old its newest entry.
    code = central.venue_with_code(("67", "Đắk Nông"), ("BV", "Bệnh viện"), "hospital")
    config = KioskConfig.model_validate({"state_dir": str(tmp_path / "k"), "camera": {"realtime": False}})
    enrol_device(config, central.url, code, None)
    with central.engine.begin() as conn:
        set_status(conn, "0" * 32, "red", utcnow() + timedelta(days=30), utcnow())
    kiosk = assemble(config, source=ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None))
    assert kiosk.sync is not None and kiosk.sync.pull_config()
    published = kiosk.lists.current
    trust_file, status_file = (config.state_dir / name for name in ("trust-list.json", "status-list.json"))
    served = datetime.fromisoformat(json.loads(trust_file.read_text())["issued_at"])
    assert abs(served - datetime.now(UTC)) < timedelta(minutes=1)  # the time the centre served it
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    for path in (trust_file, status_file):
        write_atomic(path, json.dumps({**json.loads(path.read_text()), "issued_at": three_days_ago}).encode())
    assert kiosk.sync.pull_config() and kiosk.lists.current is not published  # 304, and new ages published
    published = kiosk.lists.current
    assert abs(published.trust.issued_at - datetime.now(UTC)) < timedelta(minutes=1)  # what the loop decides with
    for path in (trust_file, status_file):
        confirmed = datetime.fromisoformat(json.loads(path.read_text())["issued_at"])
        assert abs(confirmed - datetime.now(UTC)) < timedelta(minutes=1), path.name
    assert kiosk.sync.pull_config() and kiosk.lists.current is published  # confirmed a moment ago: no rewrite
    kiosk.store.close()
