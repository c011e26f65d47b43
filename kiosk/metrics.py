"""The frame loop's status: counters, latency samples and whether it can record, written by the loop thread and
read by others as one frozen record (`LoopMetrics.copy`), for the status page, /metrics, the heartbeat, systemd's
status line and the demo summary.

The record is taken under the lock the loop holds for a few microseconds per frame, rather than published anew
on every frame: it holds 20,000 latency samples, and a copy per frame would cost the loop more than the reading.
"""

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
    store_fault: str | None = None  # why the last commit failed, until one succeeds: not recording now
    visitor: tuple[float, str | None] | None = None  # a visitor waiting for the guard: since (monotonic), ID tail
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

    def store_failed(self, reason: str) -> None:
        with self._lock:
            self.store_errors += 1
            self.store_fault = reason

    def store_recording(self) -> None:
        if self.store_fault is not None:
            with self._lock:
                self.store_fault = None

    def copy(self) -> LoopCopy:
        """The counters and samples as they are now, in one short hold of the lock the loop takes per frame
        (tens of microseconds for 10,000 floats); percentiles are then computed outside it."""
        with self._lock:
            return LoopCopy(
                self.frames,
                self.frames_with_code,
                self.codes,
                dict(self.decisions),
                self.store_errors,
                self.handler_errors,
                self.store_fault,
                list(self.decode_ms),
                list(self.decision_ms),
            )

    def snapshot(self) -> dict[str, object]:
        copy = self.copy()
        return {
            "frames": copy.frames,
            "frames_with_code": copy.frames_with_code,
            "codes": copy.codes,
            "decisions": copy.decisions,
            "store_errors": copy.store_errors,
            "handler_errors": copy.handler_errors,
            "decode_ms": percentiles(copy.decode_ms),
            "decision_ms": percentiles(copy.decision_ms),
        }


@dataclass(frozen=True)
class LoopCopy:
    """A consistent copy of `LoopMetrics`."""

    frames: int
    frames_with_code: int
    codes: int
    decisions: dict[str, int]
    store_errors: int
    handler_errors: int
    store_fault: str | None
    decode_ms: list[float]
    decision_ms: list[float]


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50 and p95 of `samples` in the same unit (None when there are none)."""
    if not samples:
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(np.asarray(samples), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3)}
