"""The kiosk's Prometheus collector for /metrics, read at scrape time (kiosk/ops/statusreport.py reads the kiosk).

The collector is custom rather than prometheus_client Counters fed by the loop, so the loop's code is unchanged.
Its two histograms are kept here and fed at each scrape from the recent-sample deques: the samples appended since
the previous scrape are the deque's tail, because the totals (frames, decisions) count every append. Samples
that fell out of a deque between two scrapes (over 10,000 frames: 11 minutes at 15 fps) cannot be bucketed;
kiosk_histogram_samples_lost_total counts them.
"""

from __future__ import annotations

import shutil
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)

from kiosk import __version__
from kiosk.metrics import LoopCopy
from kiosk.ops.statusreport import KioskView, list_age_s, read_store
from kiosk.policy import Outcome

DECODE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5)  # seconds per frame
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0)  # seconds, capture to commit


class CumulativeHistogram:
    """Prometheus buckets fed with the samples appended to a bounded deque since the last call."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0
        self.seen = 0  # appends accounted for (bucketed or lost)
        self.lost = 0

    def update(self, total: int, recent_ms: list[float]) -> None:
        """`total`: appends ever made to the deque; `recent_ms`: its contents now, oldest first."""
        new = total - self.seen
        if new <= 0:
            return
        fresh = recent_ms[-new:] if new <= len(recent_ms) else recent_ms
        self.lost += new - len(fresh)
        for ms in fresh:
            seconds = ms / 1000
            self.counts[bisect_left(self.bounds, seconds)] += 1
            self.sum += seconds
        self.seen = total

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.sum)


class KioskCollector:
    """Reads the kiosk at scrape time; registered in a registry of the page's own, never the global one."""

    def __init__(self, kiosk: KioskView, fps: Callable[[], float]) -> None:
        self.kiosk = kiosk
        self.fps = fps
        self._decode = CumulativeHistogram(DECODE_BUCKETS)
        self._latency = CumulativeHistogram(LATENCY_BUCKETS)
        self._lock = threading.Lock()  # scrapes may overlap (one thread per request)

    def collect(self) -> Iterator[Metric]:
        copy = self.kiosk.metrics.copy()
        yield from self._counters(copy)
        yield from self._gauges()
        with self._lock:
            self._decode.update(copy.frames, copy.decode_ms)
            self._latency.update(sum(copy.decisions.values()), copy.decision_ms)
            decode = self._decode.family("kiosk_decode_seconds", "Time to decode one frame.")
            latency = self._latency.family("kiosk_decision_latency_seconds", "Frame capture to committed decision.")
            lost = CounterMetricFamily(
                "kiosk_histogram_samples_lost", "Samples not bucketed: too many between scrapes.", labels=["histogram"]
            )
            lost.add_metric(["decode"], self._decode.lost)
            lost.add_metric(["decision_latency"], self._latency.lost)
        yield from (decode, latency, lost)

    def _counters(self, copy: LoopCopy) -> Iterator[Metric]:
        kiosk = self.kiosk
        stats = kiosk.grabber.stats
        yield CounterMetricFamily("kiosk_frames", "Frames run through the decoders.", value=copy.frames)
        yield CounterMetricFamily("kiosk_frames_dropped", "Frames the loop was too busy to take.", value=stats.dropped)
        yield CounterMetricFamily("kiosk_camera_failures", "Camera reads or reopens that failed.", value=stats.failures)
        yield CounterMetricFamily("kiosk_codes_decoded", "QR codes read.", value=copy.codes)
        decisions = CounterMetricFamily("kiosk_decisions", "Decisions committed, by outcome.", labels=["outcome"])
        for outcome in sorted({*(o.value for o in Outcome), *copy.decisions}):
            decisions.add_metric([outcome], copy.decisions.get(outcome, 0))
        yield decisions
        yield CounterMetricFamily(
            "kiosk_store_errors", "Decisions the store could not commit.", value=copy.store_errors
        )
        yield CounterMetricFamily(
            "kiosk_frame_errors", "Frames or codes whose handling failed.", value=copy.handler_errors
        )
        sync = None if kiosk.sync_status is None else kiosk.sync_status.current
        failures = sync.failures if sync is not None else 0
        yield CounterMetricFamily("kiosk_sync_failures", "Uploads to the central server that failed.", value=failures)

    def _gauges(self) -> Iterator[Metric]:
        kiosk = self.kiosk
        facts = read_store(kiosk.config.database_path, kiosk.clock, recent=0)
        yield GaugeMetricFamily("kiosk_backlog_events", "Events waiting for upload.", value=facts.unsent)
        oldest = facts.oldest_unsent_age_s or 0.0
        yield GaugeMetricFamily("kiosk_backlog_oldest_seconds", "Age of the oldest event waiting (0: none).", oldest)
        yield GaugeMetricFamily("kiosk_quarantined_events", "Events the server refused, set aside.", facts.quarantined)
        yield GaugeMetricFamily(
            "kiosk_clock_synchronised", "1 when the wall clock is synchronised.", int(kiosk.clock.synchronised())
        )
        yield GaugeMetricFamily("kiosk_fps", "Frames per second over the last few seconds.", value=self.fps())
        yield GaugeMetricFamily(
            "kiosk_uptime_seconds", "Seconds since the kiosk started.", time.monotonic() - kiosk.started
        )
        free = shutil.disk_usage(kiosk.config.state_dir).free
        yield GaugeMetricFamily("kiosk_disk_free_bytes", "Free space on the state directory's filesystem.", free)
        sync = None if kiosk.sync_status is None else kiosk.sync_status.current
        revoked = sync is not None and sync.revoked
        yield GaugeMetricFamily("kiosk_sync_revoked", "1 when the server has revoked this device.", int(revoked))
        now = kiosk.clock.wall()
        trust_age = list_age_s(kiosk.lists.current.trust.issued_at, now)
        if trust_age is not None:
            yield GaugeMetricFamily("kiosk_trust_list_age_seconds", "Age of the trust list.", value=trust_age)
        device = kiosk.config.device
        info = InfoMetricFamily("kiosk_build", "Version and place of this kiosk.")
        info.add_metric(
            [], {"version": __version__, "device": device.id, "venue": device.venue, "direction": device.direction}
        )
        yield info


def metrics_registry(kiosk: KioskView, fps: Callable[[], float]) -> CollectorRegistry:
    """A registry of its own holding only the kiosk collector (no process or platform collectors)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KioskCollector(kiosk, fps))
    return registry
