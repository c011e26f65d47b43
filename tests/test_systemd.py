"""The systemd side: unit files verified by systemd-analyze, and the notify protocol observed on a real datagram
socket standing in for systemd's."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CCCD_AN, write_images
from test_loop import scene

from kiosk.ops.notify import Notifier

UNITS = Path(__file__).parent.parent / "systemd"
VENV_BIN = Path(sys.executable).parent


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize(
    "unit",
    [
        "kiosk.service",
        "kiosk-central.service",
        "kiosk-update.path",
        "kiosk-update.service",
        "kiosk-update-check.service",
        "kiosk-update-check.timer",
        "kiosk-rollback.service",
        "kiosk-national-maintain.service",
        "kiosk-national-maintain.timer",
    ],
)
def test_unit_files_verify_cleanly(tmp_path: Path, unit: str):
    # The units point at /opt/kiosk/current (made by scripts/provision-pi.sh): verify them against this venv.
    text = (UNITS / unit).read_text().replace("/opt/kiosk/current/bin/", f"{VENV_BIN}/")
    text = text.replace("/opt/kiosk/previous/bin/", f"{VENV_BIN}/")
    companions = ("kiosk-update.service", "kiosk-update-check.service", "kiosk-rollback.service")
    for companion in (*companions, "kiosk-national-maintain.service"):
        if companion != unit:  # what a path, a timer or OnFailure= names must exist beside it
            (tmp_path / companion).write_text((UNITS / companion).read_text().replace("/opt/kiosk/", "/usr/"))
    env_file = tmp_path / "central.env"
    env_file.write_text("KIOSK_CENTRAL_DB=sqlite:////var/lib/kiosk-central/central.db\n")
    (tmp_path / unit).write_text(text.replace("/etc/kiosk-central/central.env", str(env_file)))
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # an unknown key is only a warning


def test_the_kiosk_unit_has_what_the_issue_asks():
    unit = (UNITS / "kiosk.service").read_text()
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=always",
        "StartLimitBurst=",
        "ExecStartPre=/opt/kiosk/current/bin/kiosk check-config",
        "SupplementaryGroups=gpio video audio render",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/kiosk",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "PrivateDevices=no",
    ]:
        assert f"\n{line}" in unit, line


class FakeSystemd:
    """A datagram socket where systemd's would be: collects what the service says."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []

    def collect(self, until: float) -> None:
        while time.monotonic() < until:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self) -> list[str]:
        return [line for _, message in self.messages for line in message.splitlines()]

    def close(self) -> None:
        self.sock.close()


def test_ready_watchdog_status_and_stopping_are_sent(tmp_path: Path):
    systemd = FakeSystemd(tmp_path)
    frames = write_images(tmp_path / "frames", scene(CCCD_AN))
    config = tmp_path / "k.toml"
    config.write_text("[camera]\nloop = true\nfps = 20\n")
    env = {**os.environ, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "400000", "JOURNAL_STREAM": "8:1"}
    env.pop("WATCHDOG_PID", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "run", "--config", str(config), "--source", str(frames),
         "--state-dir", str(tmp_path / "s")],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        systemd.collect(started + 4.0)
        proc.send_signal(signal.SIGTERM)
        systemd.collect(time.monotonic() + 1.5)
        _, stderr = proc.communicate(timeout=10)
    finally:
        systemd.close()
    lines = systemd.lines()
    assert lines.count("READY=1") == 1 and any(line.startswith("MAINPID=") for line in lines)
    assert lines[-1] == "STOPPING=1"
    feeds = [t for t, message in systemd.messages if message == "WATCHDOG=1"]
    assert len(feeds) >= 8  # 0.4 s watchdog: fed at least every 0.1 s while frames flow
    assert max(b - a for a, b in itertools.pairwise(feeds)) < 0.4
    assert proc.returncode == 0
    # under journald: priority prefixes, no timestamps
    assert "<6>kiosk.decision: ACCEPT logged kind=cccd" in stderr


def test_status_line_for_systemctl_status(tmp_path: Path):
    from test_loop import config_for, run_until_end

    from kiosk.app import assemble
    from kiosk.camera.files import ImageFolderSource
    from kiosk.ops.supervise import Supervisor

    systemd = FakeSystemd(tmp_path)
    config = config_for(tmp_path)
    kiosk = assemble(config, source=ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=None))
    run_until_end(kiosk)
    kiosk.store = kiosk.loop.store = type(kiosk.store)(config.database_path)  # reopen: run_until_end closed it
    now = [100.0]
    supervisor = Supervisor(Notifier({"NOTIFY_SOCKET": str(systemd.path)}), kiosk, kiosk.store, clock=lambda: now[0])
    now[0] += 10.0
    supervisor.tick()
    systemd.collect(time.monotonic() + 0.3)
    kiosk.store.close()
    systemd.close()
    (status,) = [line for line in systemd.lines() if line.startswith("STATUS=")]
    assert status.startswith("STATUS=0.6 fps, 1 decisions, backlog 1, not enrolled, clock")


def test_status_line_says_when_the_store_cannot_record_and_when_the_disk_is_low(tmp_path: Path, monkeypatch, caplog):
    import shutil
    from types import SimpleNamespace

    from kiosk.metrics import LoopMetrics
    from kiosk.ops import supervise

    store = SimpleNamespace(status=lambda _: SimpleNamespace(unsent=3))
    metrics = LoopMetrics()
    kiosk = SimpleNamespace(
        metrics=metrics,
        store=store,
        clock=SimpleNamespace(synchronised=lambda: True),
        sync_status=None,
        config=SimpleNamespace(state_dir=tmp_path),
    )
    supervisor = supervise.Supervisor(Notifier({}), kiosk, store, clock=lambda: 0.0)
    assert "DISK LOW" not in supervisor.status_line(10.0) and "STORE" not in supervisor.status_line(20.0)

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(supervise.shutil, "disk_usage", lambda _: usage._replace(free=40 * 2**20))
    with caplog.at_level("WARNING", logger="kiosk.ops.supervise"):
        assert supervisor.status_line(30.0).endswith(", DISK LOW (40 MB free)")
        supervisor.status_line(40.0)  # the log says it once per ten minutes, the status line every time
        assert supervisor.status_line(50.0).endswith("DISK LOW (40 MB free)")
    assert len(caplog.records) == 1 and "40 MB free" in caplog.records[0].getMessage()

    metrics.store_failed("events.db: event not recorded: database or disk is full")  # as the loop does
    assert supervisor.status_line(60.0).endswith(
        ", STORE NOT RECORDING, gate kept shut (events.db: event not recorded: database or disk is full)"
    )


class FreezesAfter:
    """A live camera that delivers the grabber's frames until `after` seconds, then nothing (frozen)."""

    live = True
    exhausted = False

    def __init__(self, grabber: object, after: float) -> None:
        self.grabber = grabber
        self.until = time.monotonic() + after

    def next(self, timeout: float) -> object:
        if time.monotonic() < self.until:
            return self.grabber.next(timeout)  # type: ignore[attr-defined]
        time.sleep(min(timeout, 0.02))
        return None


def test_a_frozen_camera_stops_the_watchdog_so_systemd_restarts_the_service(tmp_path: Path):
    import threading

    from test_loop import config_for

    from kiosk.app import assemble
    from kiosk.camera.files import ImageFolderSource

    systemd = FakeSystemd(tmp_path)
    config = config_for(tmp_path)
    source = ImageFolderSource(write_images(tmp_path / "f", scene(CCCD_AN)), fps=20, loop=True)
    notifier = Notifier({"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000"})
    kiosk = assemble(config, source=source, notifier=notifier)  # the loop feeds the watchdog
    kiosk.start()
    kiosk.loop.frames = FreezesAfter(kiosk.grabber, after=1.0)
    stop = threading.Event()
    runner = threading.Thread(target=kiosk.run, args=(stop,))
    started = time.monotonic()
    runner.start()
    try:
        systemd.collect(started + 2.5)
    finally:
        stop.set()
        runner.join(5)
        kiosk.close()
        systemd.close()
    feeds = [t - started for t, message in systemd.messages if message == "WATCHDOG=1"]
    assert len(feeds) >= 5 and feeds[0] < 0.5  # fed while frames flow...
    assert max(feeds) < 1.3  # ...and not once after the camera froze: systemd's timer runs out


def test_without_systemd_notifying_is_a_no_op():
    notifier = Notifier({})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()


def test_abstract_socket_names_and_the_watchdog_pid(tmp_path: Path):
    assert Notifier({"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}).address.startswith("\0")
    other = Notifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s == 0  # the watchdog is for another process: not ours to feed
