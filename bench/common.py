"""Shared by the benchmark scripts: the machine they ran on, test frames, and percentile formatting."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED_QR = ROOT.parent / "shared" / "testdata" / "qr"
QR_SAMPLES = SHARED_QR if SHARED_QR.is_dir() else ROOT / "tests" / "data" / "qr"
DEMO_VIDEO = ROOT / "kiosk" / "demo" / "media" / "gate.mp4"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        info = Path("/proc/cpuinfo").read_text().splitlines()
        fields = [line.split(":", 1) for line in info if ":" in line]
        cpu = next(v.strip() for k, v in fields if k.strip() in ("model name", "Model"))  # x86, Raspberry Pi
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "python": platform.python_version(),
        "zxing-cpp": version("zxing-cpp"),
        "opencv": version("opencv-python-headless"),
        "sqlite": __import__("sqlite3").sqlite_version,
    }


def pct(samples: list[float]) -> dict[str, float]:
    """p50 and p95, rounded, in the samples' unit."""
    p50, p95 = np.percentile(np.asarray(samples), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "n": len(samples)}


def best(call: Callable[[], object], repeat: int) -> float:
    """The least seconds `call` took over `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def timed_ms(call: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds of each of `rounds` calls."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))


def add_repo_to_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
