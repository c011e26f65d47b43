"""Resident memory of `kiosk run` on a looping replay of the demo film, sampled over time.

Starts the real command in a subprocess (state in a temporary directory on this disk), reads VmRSS from
/proc every few seconds, and reports the first sample after warm-up, the last, the maximum, and the slope of a
least-squares line through the samples after warm-up (MB per minute: flat means about 0).

    .venv/bin/python bench/memory.py [--minutes 10] [--json]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DEMO_VIDEO, ROOT, emit, machine

WARMUP_S = 30.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as work:
        config = Path(work) / "kiosk.toml"
        config.write_text(f'[camera]\nsource = "{DEMO_VIDEO}"\nloop = true\n[log]\nlevel = "WARNING"\n')
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "kiosk", "run", "--config", str(config), "--state-dir", str(Path(work) / "s")]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < args.minutes * 60:
                if proc.poll() is not None:
                    raise SystemExit(f"kiosk run exited early with {proc.returncode}")
                samples.append((elapsed, rss_mb(proc.pid)))
                time.sleep(args.every)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    steady = [(t, m) for t, m in samples if t >= WARMUP_S] or samples
    times, mbs = np.array([t for t, _ in steady]), np.array([m for _, m in steady])
    slope = float(np.polyfit(times / 60, mbs, 1)[0]) if len(steady) > 2 else 0.0
    emit(
        {
            "benchmark": "memory",
            "machine": machine(),
            "command": " ".join(["kiosk", *cmd[3:]]),
            "minutes": args.minutes,
            "rss_mb": {
                "after_warmup": round(steady[0][1], 1),
                "end": round(samples[-1][1], 1),
                "max": round(max(m for _, m in samples), 1),
                "slope_mb_per_min": round(slope, 3),
            },
            "exit_code": proc.returncode,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
