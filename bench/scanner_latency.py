"""Scanner modules: last keystroke (or last serial byte) -> decision committed -> feedback returned.

An assembled kiosk with no camera reads distinct people's CCCD codes from two scanners: a serial one on a pty
pair (pyserial, as a USB CDC scanner is read) and a keyboard one through evdev's reader on a pipe that carries
the kernel's input_event records (tests/fakes/evdevpipe.py: this kernel has no uinput). Each code is sent whole,
the clock starts when its last byte or key event has been written, and stops when the GPIO feedback (gpiozero's
MockFactory) returns. In the same run: the camera's frame-to-feedback latency (bench/latency.py's replay) and
the raw pty round trip (a code written on one end and read back whole on the other) as baselines.

    .venv/bin/python bench/scanner_latency.py [--people 100] [--json]
"""

from __future__ import annotations

import argparse
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import serial
from common import ROOT, add_repo_to_path, emit, machine, pct
from latency import person
from latency import run as camera_run

add_repo_to_path()
import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))

from fakes.evdevpipe import PipeEventDevice, keystrokes  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402

from kiosk.app import assemble  # noqa: E402
from kiosk.config import KioskConfig  # noqa: E402
from kiosk.events import Event  # noqa: E402
from kiosk.hardware.gpio import GpioFeedback, GpioPins  # noqa: E402
from kiosk.scanner.framing import Framer  # noqa: E402
from kiosk.scanner.hid import HidPort  # noqa: E402
from kiosk.scanner.keymap import KeyDecoder  # noqa: E402
from kiosk.scanner.reader import ScannerThread  # noqa: E402


class Stamped:
    """GPIO feedback that notes when each signal has returned."""

    def __init__(self, inner: GpioFeedback) -> None:
        self.inner = inner
        self.done: queue.SimpleQueue[tuple[float, Event]] = queue.SimpleQueue()

    def signal(self, event: Event) -> None:
        self.inner.signal(event)
        self.done.put((time.monotonic(), event))

    def fault(self, reason: str) -> None:
        self.inner.fault(reason)

    def close(self) -> None:
        self.inner.close()


def pty_link(work: Path) -> tuple[int, Path]:
    master, slave = os.openpty()
    link = work / "usb-scanner-if00"
    link.symlink_to(os.ttyname(slave))
    os.close(slave)
    return master, link


def scanners_run(people: int, work: Path) -> dict[str, Any]:
    master, link = pty_link(work)
    config = KioskConfig.model_validate(
        {
            "state_dir": str(work / "state"),
            "camera": {"source": "none"},
            "policy": {"mode": "identity"},
            "status_page": {"enabled": False},
            "scanners": [{"kind": "serial", "device": str(link), "baud": 115200}],
        }
    )
    factory = MockFactory(pin_class=MockPWMPin)
    feedback = Stamped(GpioFeedback(GpioPins(relay_hold_s=1.0, light_s=0.2), pin_factory=factory))
    kiosk = assemble(config, feedback=feedback)
    keyboard = PipeEventDevice()
    kiosk.scanners.append(
        ScannerThread("hid", lambda: HidPort(keyboard, KeyDecoder()), Framer("scanner-hid"), kiosk.scanners[0].sink)
    )
    results: dict[str, list[float]] = {"scanner-serial": [], "scanner-hid": []}
    stop = threading.Event()

    def drive() -> None:
        try:
            deadline = time.monotonic() + 5
            while not all(s.stats.connected for s in kiosk.scanners) and time.monotonic() < deadline:
                time.sleep(0.01)
            for n in range(2 * people):
                text = person(n)
                if n % 2 == 0:
                    os.write(master, text.encode() + b"\r")
                else:
                    keyboard.type(keystrokes(text))
                sent = time.monotonic()
                at, event = feedback.done.get(timeout=5)
                results[event.decoder].append((at - sent) * 1000)
        finally:
            stop.set()

    kiosk.start()
    driver = threading.Thread(target=drive)
    driver.start()
    try:
        kiosk.run(stop)
        driver.join(10)
    finally:
        kiosk.close()
        factory.reset()
        os.close(master)
        keyboard.unplug()
    return {
        "serial_keystroke_to_feedback_ms": pct(results["scanner-serial"]),
        "hid_keystroke_to_feedback_ms": pct(results["scanner-hid"]),
        "loop_last_byte_to_feedback_ms": pct(list(kiosk.metrics.decision_ms)),
        "decisions": {k: len(v) for k, v in results.items()},
    }


def raw_pty_round_trip(people: int, work: Path) -> dict[str, float]:
    """Baseline: a code written on the master end, read whole from the slave with pyserial."""
    master, link = pty_link(work / "raw")
    port = serial.Serial(str(link), 115200, timeout=1)
    samples = []
    try:
        for n in range(people):
            data = person(n).encode() + b"\r"
            os.write(master, data)
            sent = time.monotonic()
            port.read_until(b"\r")
            samples.append((time.monotonic() - sent) * 1000)
    finally:
        port.close()
        os.close(master)
    return pct(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as name:  # on disk: each commit's fsync is real
        work = Path(name)
        (work / "raw").mkdir()
        (work / "camera").mkdir()
        scanners = scanners_run(args.people, work)
        camera = camera_run(min(args.people, 120), 15.0, work / "camera")
        raw = raw_pty_round_trip(args.people, work)
    emit(
        {
            "benchmark": "scanner_latency",
            "machine": machine(),
            "people_per_scanner": args.people,
            **scanners,
            "camera_frame_to_feedback_ms": camera["frame_to_feedback_ms"],
            "baseline_raw_pty_round_trip_ms": raw,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
