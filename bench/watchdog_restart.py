"""From a frozen camera to a kiosk running again: the real `kiosk run` on the demo replay, under a stand-in for
systemd (bench/fakesystemd.py) enforcing WatchdogSec and restarting after RestartSec, as kiosk.service asks.

Each round: READY=1, frames flow for a second, then the camera freezes (every read blocks, bench/frozen_kiosk.py).
The loop stops feeding the watchdog; when WatchdogSec has passed without WATCHDOG=1 the manager sends SIGABRT,
waits for the exit, waits RestartSec, and starts the service again until READY=1. Reported: freeze to watchdog
fired (at most WatchdogSec: the loop feeds every quarter interval, so the last feed came up to a quarter
before the freeze), to the process gone, and to READY=1 again (the gate reading again).

kiosk.service has WatchdogSec=10 and RestartSec=2; the bench defaults to a 2 s watchdog to stay short and
works out the unit's worst case: 10 s, plus the slowest exit, RestartSec and the slowest start measured.

    .venv/bin/python bench/watchdog_restart.py [--rounds 5] [--watchdog-sec 2] [--restart-sec 2] [--json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import DEMO_VIDEO, ROOT, emit, machine, pct
from fakesystemd import ServiceManager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--watchdog-sec", type=float, default=2.0)
    parser.add_argument("--restart-sec", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    fired, gone, running_again, ready = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = directory / "kiosk.toml"
        config.write_text(f'[camera]\nsource = "{DEMO_VIDEO}"\nloop = true\n')
        flag = directory / "freeze"
        env = {
            "KIOSK_CONFIG": str(config),
            "KIOSK_STATE_DIR": str(directory / "state"),
            "KIOSK_BENCH_FREEZE": str(flag),
            "PYTHONPATH": str(ROOT),
        }
        command = [sys.executable, str(ROOT / "bench" / "frozen_kiosk.py"), "run"]
        manager = ServiceManager(directory, command, env, watchdog_s=args.watchdog_sec)
        try:
            manager.start()
            for _ in range(args.rounds):
                if manager.watch(1.0) is not None:
                    raise RuntimeError("the watchdog fired while frames were flowing")
                flag.touch()
                frozen = time.monotonic()
                fired_at = manager.watch(args.watchdog_sec * 3)
                if fired_at is None:
                    raise RuntimeError("the watchdog never fired on a frozen camera")
                manager.wait_exit()
                exited = time.monotonic()
                flag.unlink()
                time.sleep(args.restart_sec)
                ready.append(manager.start())
                fired.append(fired_at - frozen)
                gone.append(exited - frozen)
                running_again.append(time.monotonic() - frozen)
            manager.stop()
        finally:
            manager.close()
    emit(
        {
            "bench": "watchdog_restart",
            "machine": machine(),
            "watchdog_sec": args.watchdog_sec,
            "restart_sec": args.restart_sec,
            "freeze_to_watchdog_fired_s": pct(fired),
            "freeze_to_process_gone_s": pct(gone),
            "freeze_to_ready_again_s": pct(running_again),
            "restart_to_ready_s": pct(ready),
            # With kiosk.service's WatchdogSec=10: at most 10 s to fire, then the exit, RestartSec and the start.
            "unit_worst_case_s": round(
                10 + max(g - f for g, f in zip(gone, fired, strict=True)) + args.restart_sec + max(ready), 2
            ),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
