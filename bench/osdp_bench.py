"""OSDP card-read latency: from OsdpReader.report() to libosdp's control panel (CP) holding the card read.

The reader and a libosdp CP talk over a pty pair (tests/test_osdp.py's Line and PanelChannel). Each round reports
one card read (64-bit subject-bits) after a random pause of 0-100 ms, so the report lands at every phase of the
CP's polling, and waits for the CP's event callback; the time between is report_to_cp_ms. Measured with the
secure channel on (AES MAC and encryption on every packet) and, in the same run, off (the baseline), plus:
  report_call_ms   how long report() holds its caller (the frame loop in the kiosk)
  pty_one_way_ms   the raw line: N bytes written on the master, read whole on the reader's pyserial port
A pty has no baud rate: on a real RS-485 line at 9600 baud each byte adds 1.04 ms (docs/osdp.md).

    .venv/bin/python bench/osdp_bench.py [--reads 50] [--pty-bytes 32] [--pty-rounds 200] [--json]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()
sys.path.insert(0, str(ROOT / "tests"))

import osdp  # noqa: E402
import serial  # noqa: E402
from test_osdp import ADDRESS, KEY, SUBJECT, Line, PanelChannel, wait_for  # noqa: E402

from kiosk.hardware.osdp import OsdpReader, OsdpSettings  # noqa: E402
from kiosk.hardware.osdpcard import card_for  # noqa: E402


def card_latency(directory: Path, reads: int, *, secure: bool) -> dict[str, Any]:
    line = Line(directory)
    arrived = threading.Event()
    stamps: list[float] = []

    def on_event(pd: int, event: dict[str, Any]) -> int:
        if event.get("event") == osdp.Event.CardRead:
            stamps.append(time.perf_counter())
            arrived.set()
        return 0

    key = KEY if secure else None
    flags = [osdp.LibFlag.EnforceSecure] if secure else []
    cp = osdp.ControlPanel(
        [osdp.PDInfo(ADDRESS, PanelChannel(line), scbk=key, flags=flags)],
        log_level=osdp.LogLevel.Error,
        event_handler=on_event,
    )
    settings = OsdpSettings(port=str(line.link), address=ADDRESS, scbk=key, plain=not secure)
    reader = OsdpReader(settings)
    card = card_for(SUBJECT, None, "subject-bits", 64)
    assert card is not None
    to_cp, call = [], []
    cp.start()
    reader.start()
    try:
        started = time.perf_counter()
        if not wait_for(lambda: reader.online and (reader.secure or not secure) and cp.is_online(ADDRESS), 10):
            raise SystemExit("the reader did not come online with the CP")
        setup_s = time.perf_counter() - started
        for _ in range(reads):
            time.sleep(random.uniform(0, 0.1))
            arrived.clear()
            began = time.perf_counter()
            reader.report(card)
            call.append((time.perf_counter() - began) * 1000)
            if not arrived.wait(3):
                raise SystemExit("a card read did not reach the CP within 3 s")
            to_cp.append((stamps[-1] - began) * 1000)
    finally:
        reader.stop()
        cp.stop()
        line.unplug()
    return {
        "report_to_cp_ms": pct(to_cp),
        "report_call_ms": pct(call),
        "online_s": round(setup_s, 3),
        "secure": secure,
    }


def pty_one_way(directory: Path, size: int, rounds: int) -> dict[str, Any]:
    line = Line(directory)
    port = serial.Serial(str(line.link), 9600, timeout=0)
    payload = bytes(range(size % 256)) * (size // 256) + bytes(range(size % 256))
    samples = []
    try:
        assert line.master is not None
        for _ in range(rounds):
            began = time.perf_counter()
            os.write(line.master, payload)
            got = b""
            while len(got) < size:
                got += port.read(size - len(got))
            samples.append((time.perf_counter() - began) * 1000)
    finally:
        port.close()
        line.unplug()
    return {"pty_one_way_ms": pct(samples), "bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--pty-bytes", type=int, default=32)
    parser.add_argument("--pty-rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "secure_channel": card_latency(Path(tmp), args.reads, secure=True),
            "plain_baseline": card_latency(Path(tmp), args.reads, secure=False),
            "pty_baseline": pty_one_way(Path(tmp), args.pty_bytes, args.pty_rounds),
            "libosdp": version("libosdp"),
            "machine": machine(),
        }
    emit(result, args.json)


if __name__ == "__main__":
    main()
