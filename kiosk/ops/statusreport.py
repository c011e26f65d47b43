"""The state of a running kiosk, read from another thread: what the status page and /status.json show.

Nothing is added to the frame loop: the loop already counts into `LoopMetrics` (and the capture thread into
`GrabberStats`, sync into `SyncStats`). A request copies those under the metrics lock for a few microseconds and
reads the event database through a read-only connection of its own. Recent decisions are reduced to a fixed list
of columns, so a column added to the store later cannot leak onto the page.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk import __version__
from kiosk.camera import FrameGrabber
from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.loop import ScanLoop
from kiosk.metrics import LoopMetrics, percentiles
from kiosk.policy import Outcome
from kiosk.policy.snapshot import Snapshot
from kiosk.published import Published
from kiosk.store import EventStore
from kiosk.sync.identity import NotEnrolled, load_enrolment
from kiosk.sync.worker import SyncWorker

RECENT_FIELDS = ("seq", "wall_time", "clock_synced", "direction", "kind", "decision", "reason", "latency_ms")


class KioskView(Protocol):
    """What the status page reads of a running kiosk (`kiosk.app.Kiosk` has all of it)."""

    @property
    def config(self) -> KioskConfig: ...

    @property
    def grabber(self) -> FrameGrabber: ...

    @property
    def loop(self) -> ScanLoop: ...

    @property
    def metrics(self) -> LoopMetrics: ...

    @property
    def lists(self) -> Published[Snapshot]: ...

    @property
    def sync(self) -> SyncWorker | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def started(self) -> float: ...

    def store_state(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StoreFacts:
    """The event store as a read-only connection of the page's own sees it (no subject keys)."""

    events: int
    unsent: int
    oldest_unsent_age_s: float | None
    quarantined: int
    recent: list[dict[str, Any]]


def read_store(path: Path, clock: Clock, recent: int = 10) -> StoreFacts:
    """Counts and the last `recent` decisions, from a read-only connection opened and closed in this thread."""
    store = EventStore(path, read_only=True)
    try:
        status = store.status(recent=recent)
        age = store.oldest_unsent_age(clock)
    finally:
        store.close()
    return StoreFacts(status.events, status.unsent, age, status.quarantined, status.recent)


def list_age_s(issued_at: datetime | None, now: float) -> float | None:
    return None if issued_at is None else max(0.0, now - issued_at.timestamp())


def gather_status(kiosk: KioskView, fps: float, last_frame_at: float | None) -> dict[str, Any]:
    """Everything the page shows, as plain data (also /status.json); no subject key, name, ID or QR text."""
    copy = kiosk.metrics.copy()
    wall, mono = kiosk.clock.wall(), kiosk.clock.monotonic()
    facts = read_store(kiosk.config.database_path, kiosk.clock)
    lists = kiosk.lists.current  # one snapshot for the whole report
    stats, device = kiosk.grabber.stats, kiosk.config.device
    return {
        "device": {"id": device.id, "venue": device.venue, "direction": device.direction, "version": __version__},
        "uptime_s": round(time.monotonic() - kiosk.started),
        "camera": {
            "source": kiosk.grabber.source.name,
            "fps": fps,
            "frames": copy.frames,
            "captured": stats.captured,
            "dropped": stats.dropped,
            "failures": stats.failures,
            "last_frame_age_s": None if last_frame_at is None else round(max(0.0, mono - last_frame_at), 2),
        },
        "decode": {"codes": copy.codes, "frames_with_code": copy.frames_with_code, "ms": percentiles(copy.decode_ms)},
        "decisions": {o.value: copy.decisions.get(o.value, 0) for o in Outcome} | copy.decisions,
        "decision_ms": percentiles(copy.decision_ms),
        "errors": {"store": copy.store_errors, "frames": copy.handler_errors},
        "recent": [_recent(row) for row in facts.recent],
        "store": {
            "events": facts.events,
            "unsent": facts.unsent,
            "oldest_unsent_age_s": _round(facts.oldest_unsent_age_s),
            "quarantined": facts.quarantined,
            **kiosk.store_state(),  # fault (not recording now, why), errors, recovered (a damaged file set aside)
        },
        "sync": sync_state(kiosk),
        "clock": {"synchronised": kiosk.clock.synchronised(), "now": iso(wall)},
        "trust_list_age_s": _round(list_age_s(lists.trust.issued_at, wall)),
        "status_list_age_s": _round(list_age_s(lists.status.issued_at, wall)),
        "disk_free_mb": shutil.disk_usage(kiosk.config.state_dir).free // 2**20,
    }


def sync_state(kiosk: KioskView) -> dict[str, Any]:
    try:
        enrolment = load_enrolment(kiosk.config.state_dir)
    except NotEnrolled as exc:
        return {"enrolled": False, "problem": str(exc)}
    state: dict[str, Any] = {"enrolled": enrolment is not None, "server": enrolment.server if enrolment else None}
    worker = kiosk.sync
    state["running"] = worker is not None
    if worker is not None:
        stats = worker.stats
        since = None if stats.last_success is None else time.monotonic() - stats.last_success
        state |= {"last_success_age_s": _round(since), "last_error": stats.last_error, "revoked": stats.revoked}
        state |= {"failures": stats.failures, "held": stats.held, "quarantined": stats.quarantined}
    return state


def _recent(row: dict[str, Any]) -> dict[str, Any]:
    """A decision as the page shows it: whitelisted columns, so a column added to the store never leaks here."""
    return {k: row[k] for k in RECENT_FIELDS} | {
        "clock_synced": bool(row["clock_synced"]),
        "time": iso(row["wall_time"]),
    }


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
