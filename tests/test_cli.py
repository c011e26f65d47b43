from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import cv2
import pytest
from conftest import CCCD_AN, DATA, PCCOVID_AN, QR_SAMPLES, on_canvas, qr_image, write_images
from test_camera import write_video
from test_loop import scene

from kiosk.store import EventStore


def kiosk(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_scan_images_and_folders_prints_one_object_per_image(tmp_path: Path):
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), on_canvas(qr_image(CCCD_AN, scale=4)))
    folder = write_images(tmp_path / "folder", [qr_image("a"), on_canvas(qr_image("b")), qr_image("c") * 0 + 200])
    result = kiosk("scan", str(one), str(folder), "--json")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert [line["file"] for line in lines] == [str(one)] + [str(folder / f"{i:04d}.png") for i in range(3)]
    assert lines[0]["codes"] == [{"text": CCCD_AN, "decoder": "zxing"}]
    assert [[c["text"] for c in line["codes"]] for line in lines[1:]] == [["a"], ["b"], []]
    assert all(isinstance(line["ms"], float) for line in lines)


def test_scan_video_reports_each_code_once_with_its_first_frame(tmp_path: Path):
    frames = [on_canvas(qr_image("x") * 0 + 255)] * 3 + [on_canvas(qr_image(PCCOVID_AN, scale=4))] * 4
    frames += [on_canvas(qr_image("second", scale=5))] * 2
    video = write_video(tmp_path / "clip.avi", frames)
    (line,) = json_lines(kiosk("scan", str(video), "--json").stdout)
    assert line["file"] == str(video)
    assert [(c["text"], c["frame"]) for c in line["codes"]] == [(PCCOVID_AN, 3), ("second", 7)]


def test_scan_binary_payload_is_reported_with_its_bytes(tmp_path: Path):
    payload = b"\x00\x9f\xff raw"
    path = tmp_path / "bin.png"
    cv2.imwrite(str(path), qr_image(payload, scale=5))
    (line,) = json_lines(kiosk("scan", str(path), "--json").stdout)
    (code,) = line["codes"]
    assert code["binary"] is True and bytes.fromhex(code["hex"]) == payload


def test_scan_unreadable_file_is_reported_not_fatal(tmp_path: Path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    result = kiosk("scan", str(bad), "--json")
    assert result.returncode == 0
    assert json_lines(result.stdout)[0]["error"]


def test_scan_usage_errors_exit_2(tmp_path: Path):
    assert kiosk("scan", str(tmp_path / "missing.png"), "--json").returncode == 2
    assert kiosk("scan").returncode == 2
    result = kiosk("scan", str(QR_SAMPLES / "qrcode-1" / "1.webp"), "--decoders", "zxing,quirky")
    assert result.returncode == 2 and "--decoders" in result.stderr


def test_scan_shared_sample_with_default_chain():
    line = json_lines(kiosk("scan", str(QR_SAMPLES / "qrcode-1" / "1.webp"), "--json").stdout)[0]
    expected = (QR_SAMPLES / "qrcode-1" / "1.txt").read_text()
    assert [c["text"] for c in line["codes"]] == [expected]


def test_run_until_end_then_status(tmp_path: Path):
    folder = write_images(tmp_path / "frames", scene(CCCD_AN, None, PCCOVID_AN, "https://example.vn"))
    state = tmp_path / "state"
    config = tmp_path / "kiosk.toml"
    config.write_text('[camera]\nrealtime = false\n[device]\nvenue = "CHO-BEN-THANH"\n')
    result = kiosk("run", "--config", str(config), "--source", str(folder), "--state-dir", str(state), "--until-end")
    assert result.returncode == 0, result.stderr
    assert "ACCEPT logged kind=cccd" in result.stderr
    assert CCCD_AN.split("|")[2] not in result.stderr  # no name in the logs
    status = kiosk("status", "--json", "--config", str(config), env={"KIOSK_STATE_DIR": str(state)})
    report = json.loads(status.stdout)
    assert report["events"] == 3 and report["unsent"] == 3 and report["venue"] == "CHO-BEN-THANH"
    assert [r["kind"] for r in reversed(report["recent"])] == ["cccd", "pc-covid", "unknown"]
    assert "subject_key" not in json.dumps(report)
    human = kiosk("status", "--config", str(config), "--state-dir", str(state))
    assert "events 3, unsent 3, quarantined 0" in human.stdout


def test_status_before_any_run(tmp_path: Path):
    report = json.loads(kiosk("status", "--json", "--state-dir", str(tmp_path)).stdout)
    assert (report["events"], report["unsent"]) == (0, 0)


def test_run_with_a_bad_config_exits_2(tmp_path: Path):
    config = tmp_path / "k.toml"
    config.write_text("[camera]\nsorce = 'x'\n")
    result = kiosk("run", "--config", str(config))
    assert result.returncode == 2 and "camera.sorce: unknown key; did you mean 'source'?" in result.stderr


def test_run_with_a_missing_camera_exits_1_with_a_message(tmp_path: Path):
    result = kiosk(
        "run", "--source", "/dev/video99", "--state-dir", str(tmp_path), env={"KIOSK_CONFIG": "/nonexistent"}
    )
    assert result.returncode == 2  # the named config file is missing
    result = kiosk("run", "--source", str(tmp_path / "nope.mp4"), "--state-dir", str(tmp_path))
    assert result.returncode == 1 and "no such video file" in result.stderr


def _committed(database: Path) -> int:
    """Events committed in the kiosk's store so far; 0 while it does not exist yet."""
    if not database.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:  # the schema not made yet
        return 0


def test_sigterm_stops_the_loop_and_leaves_a_clean_database(tmp_path: Path):
    folder = write_images(tmp_path / "frames", scene(CCCD_AN, OTHER_CODE))
    config = tmp_path / "k.toml"
    config.write_text("[camera]\nloop = true\nfps = 30\n[debounce]\ncooldown_s = 0.2\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiosk",
            "run",
            "--config",
            str(config),
            "--source",
            str(folder),
            "--state-dir",
            str(tmp_path / "s"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    # Until two passages are committed (a fixed 2.5 s was too short on a loaded machine: the imports alone can
    # take that), read-only beside the running kiosk (WAL lets a reader in).
    database = tmp_path / "s" / "events.db"
    deadline = time.monotonic() + 60
    while _committed(database) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "stopped:" in err
    store = EventStore(tmp_path / "s" / "events.db")
    assert store.integrity_ok() and store.status().events >= 2
    store.close()
    assert not (tmp_path / "s" / "events.db-wal").exists() or (tmp_path / "s" / "events.db-wal").stat().st_size == 0


OTHER_CODE = "079203012345||Trần Thị Bích Ngọc|15062003|Nữ|12 Lê Lợi|10082021"


@pytest.mark.parametrize("command", ["run", "scan", "status", "check-config", "demo"])
def test_every_command_has_help(command: str):
    result = kiosk(command, "--help")
    assert result.returncode == 0 and "Usage:" in result.stdout


def test_camera_passwords_never_reach_output_or_logs(tmp_path: Path):
    config = tmp_path / "k.toml"
    config.write_text('[camera]\nsource = "RTSP://admin:S3cretPw@127.0.0.1:9/live?token=T0kenValue"\n')
    checked = kiosk("check-config", "--config", str(config))
    assert checked.returncode == 0
    assert "S3cretPw" not in checked.stdout + checked.stderr and "T0kenValue" not in checked.stdout
    assert "rtsp://admin:***@127.0.0.1:9/live?token=***" in checked.stdout


def test_verify_contract_for_a_signed_certificate(tmp_path: Path):
    from dccmaker import make_hc1, make_signer, trust_json

    signer = make_signer("PS256")
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps(trust_json(signer, with_kid=False)))  # kid computed from the certificate
    text = make_hc1(signer)
    result = kiosk("verify", "--text", text, "--trust-list", str(trust), "--at", "2021-07-01T00:00:00Z", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "eu-dcc" and report["valid"] is True
    assert report["checks"] == {"decode": "ok", "signature": "valid", "expiry": "ok"}
    assert report["reasons"] == [] and report["subject"]["name"] == "Nguyễn Văn An"
    assert report["decision"] == {"mode": "certificate", "outcome": "ACCEPT", "reason": "certificate-ok"}
    later = kiosk("verify", "--text", text, "--trust-list", str(trust), "--at", "2023-01-01T00:00:00+07:00", "--json")
    assert json.loads(later.stdout)["checks"]["expiry"] == "expired" and later.returncode == 0
    untrusted = json.loads(kiosk("verify", "--text", text, "--json").stdout)
    assert untrusted["valid"] is False and untrusted["checks"]["signature"] == "unknown-key"
    assert untrusted["decision"] == {"mode": "certificate", "outcome": "DENY", "reason": "unknown-signer"}
    logged = json.loads(kiosk("verify", "--text", text, "--mode", "log-only", "--json").stdout)
    assert logged["decision"]["outcome"] == "ACCEPT"


def test_verify_reads_text_files_and_pictures(tmp_path: Path):
    code = tmp_path / "code.txt"
    code.write_text(PCCOVID_AN + "\n")
    report = json.loads(kiosk("verify", "--text-file", str(code), "--json").stdout)
    assert report["kind"] == "pc-covid" and report["valid"] and report["subject"]["number"] == "********2345"
    picture = DATA / "vn" / "vaccine-passport-VN-1.3.0.png"
    report = json.loads(kiosk("verify", "--image", str(picture), "--json", "--at", "2022-06-01T00:00:00Z").stdout)
    assert (report["kind"], report["checks"]["signature"], report["checks"]["expiry"]) == (
        "eu-dcc",
        "unknown-key",
        "ok",
    )
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), qr_image("x") * 0 + 255)
    report = json.loads(kiosk("verify", "--image", str(blank), "--json").stdout)
    assert (report["kind"], report["valid"], report["reasons"]) == ("unknown", False, ["no-code-in-image"])


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--text", "a", "--text-file", "/etc/hostname"],
        ["--text", "a", "--at", "yesterday"],
        ["--text", "a", "--trust-list", "/nonexistent.json"],
    ],
)
def test_verify_usage_errors_exit_2(args: list[str]):
    assert kiosk("verify", *args, "--json").returncode == 2


def test_verify_a_broken_trust_list_is_a_usage_error(tmp_path: Path):
    broken = tmp_path / "trust.json"
    broken.write_text('{"certificates": [{"certificate": "not base64!"}]}')
    result = kiosk("verify", "--text", "x", "--trust-list", str(broken))
    assert result.returncode == 2 and "certificates[0]: 'certificate' is not base64" in result.stderr


def test_check_config_refuses_a_broken_trust_or_status_list(tmp_path: Path):
    config = tmp_path / "k.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n')
    assert "no trust list yet; status list: 0 entries" in kiosk("check-config", "--config", str(config)).stdout
    (tmp_path / "status-list.json").write_text('{"entries": [{"subject_key": "abc", "status": "red"}]}')
    result = kiosk("check-config", "--config", str(config))
    assert result.returncode == 2 and "entries[0]: needs a subject_key of 32 hex digits" in result.stderr
