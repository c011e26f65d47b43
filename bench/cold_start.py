"""Cold start of kiosk.service: from the service started to READY=1 (camera and database open), on the demo
replay video, as systemd runs it: ExecStartPre=`kiosk check-config`, then `kiosk run` with $NOTIFY_SOCKET.
The stop (SIGTERM to exited, relay released and database closed) is timed too.

The page cache is warm after the first round, as it is on a box restarted by its watchdog; the first round
(cold files) is reported on its own. Baselines, same run: the bare interpreter, and the interpreter importing
the libraries the kiosk cannot start without (numpy, OpenCV, zxing-cpp).

    .venv/bin/python bench/cold_start.py [--rounds 10] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEMO_VIDEO, emit, machine, pct
from fakesystemd import ServiceManager

KIOSK = [sys.executable, "-m", "kiosk"]


def timed(command: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    check, ready, stop, service = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        config = directory / "kiosk.toml"
        config.write_text(f'[camera]\nsource = "{DEMO_VIDEO}"\nloop = true\n')
        env = {"KIOSK_CONFIG": str(config), "KIOSK_STATE_DIR": str(directory / "state")}
        for _ in range(args.rounds):
            pre = timed([*KIOSK, "check-config", "--config", str(config)])
            manager = ServiceManager(directory, [*KIOSK, "run"], env)
            try:
                up = manager.start()
                time.sleep(0.5)  # a few frames through the loop before the stop
                stop.append(manager.stop())
            finally:
                manager.close()
            check.append(pre)
            ready.append(up)
            service.append(pre + up)
        bare = [timed([sys.executable, "-c", "pass"]) for _ in range(args.rounds)]
        imports = [timed([sys.executable, "-c", "import numpy, cv2, zxingcpp"]) for _ in range(args.rounds)]
    emit(
        {
            "bench": "cold_start",
            "machine": machine(),
            "source": str(DEMO_VIDEO.name),
            "first_round_service_start_to_ready_ms": round(service[0] * 1000, 1),
            "service_start_to_ready_ms": pct(ms(service[1:] or service)),
            "check_config_ms": pct(ms(check[1:] or check)),
            "run_to_ready_ms": pct(ms(ready[1:] or ready)),
            "sigterm_to_exit_ms": pct(ms(stop)),
            "baseline_python_bare_ms": pct(ms(bare)),
            "baseline_python_import_numpy_cv2_zxingcpp_ms": pct(ms(imports)),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
