"""Decision-to-output latency: from the decision committed (SQLite, synchronous=FULL) to the relay and the
LED actually switched on, through GpioFeedback on gpiozero's MockFactory (the same code path as a Pi; what a
real pin adds is the lgpio write, a few microseconds).

Each round records an ACCEPT event, calls the GPIO feedback as the loop does, and waits until both the relay
pin and the green LED pin read high; between rounds the outputs are shut again. The baseline, same run, is
the cost of the commit alone.

    .venv/bin/python bench/output_latency.py [--rounds 300] [--json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, add_repo_to_path, emit, machine, pct

add_repo_to_path()
import sys  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))

from gpiozero.pins.mock import MockFactory, MockPWMPin  # noqa: E402
from test_store import make_event  # noqa: E402

from kiosk.hardware.gpio import GpioFeedback, GpioPins  # noqa: E402
from kiosk.ids import uuid7  # noqa: E402
from kiosk.store import EventStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    factory = MockFactory(pin_class=MockPWMPin)
    gpio = GpioFeedback(GpioPins(relay_hold_s=1.0, light_s=1.0), pin_factory=factory)
    relay, green = factory.pin(17), factory.pin(22)
    commit, to_output = [], []
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as tmp:
        store = EventStore(Path(tmp) / "events.db")
        for _ in range(args.rounds):
            started = time.perf_counter()
            event = store.record(replace(make_event(), event_id=str(uuid7())))
            committed = time.perf_counter()
            gpio.signal(event)
            while not (relay.state and green.state):
                pass  # spin: the on() happens in gpiozero's blink thread
            switched = time.perf_counter()
            commit.append((committed - started) * 1000)
            to_output.append((switched - committed) * 1000)
            gpio.signal(replace(event, decision="DENY"))  # shut again for the next round
            time.sleep(0.01)
        store.close()
    gpio.close()
    factory.reset()
    emit(
        {
            "benchmark": "output_latency",
            "machine": machine(),
            "commit_ms": pct(commit),
            "committed_to_relay_and_led_on_ms": pct(to_output),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
