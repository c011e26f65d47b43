"""Counters and latency samples of a running kiosk, for the demo summary, `kiosk status` and the heartbeat."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

_SAMPLES = 10_000  # recent samples kept for percentiles: enough for p95, bounded memory


@dataclass
class LoopMetrics:
    """Written by the loop thread only; read from others as a snapshot (ints and a copied deque)."""

    frames: int = 0
    frames_with_code: int = 0
    codes: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    store_errors: int = 0
    handler_errors: int = 0
    decode_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLES))
    decision_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_SAMPLES))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def frame(self, decode_ms: float, codes: int) -> None:
        with self._lock:
            self.frames += 1
            self.decode_ms.append(decode_ms)
            if codes:
                self.frames_with_code += 1
                self.codes += codes

    def decision(self, outcome: str, latency_ms: float) -> None:
        with self._lock:
            self.decisions[outcome] += 1
            self.decision_ms.append(latency_ms)

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "frames": self.frames,
                "frames_with_code": self.frames_with_code,
                "codes": self.codes,
                "decisions": dict(self.decisions),
                "store_errors": self.store_errors,
                "handler_errors": self.handler_errors,
                "decode_ms": percentiles(list(self.decode_ms)),
                "decision_ms": percentiles(list(self.decision_ms)),
            }


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50 and p95 of `samples` in the same unit (None when there are none)."""
    if not samples:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(samples), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3)}
