"""The state of a running kiosk, read from another thread: what the status page and /status.json show.

Nothing is added to the frame loop: the loop already counts into `LoopMetrics` (and the capture thread into
`GrabberStats`, sync into `SyncStats`). A request copies those under the metrics lock for a few microseconds and
reads the event database through a read-only connection of its own. Recent decisions are reduced to a fixed list
of columns, so a column added to the store later cannot leak onto the page.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kiosk import __version__
from kiosk.camera import FrameGrabber
from kiosk.clock import Clock
from kiosk.config import KioskConfig
from kiosk.errors import StoreError
from kiosk.metrics import LoopCopy, LoopMetrics, percentiles
from kiosk.policy import Outcome
from kiosk.policy.snapshot import Snapshot
from kiosk.published import Published
from kiosk.scanner.reader import ScannerThread
from kiosk.store import EventStore
from kiosk.store.salvage import Recovery
from kiosk.store.venuebook import VenueBook
from kiosk.sync.identity import NotEnrolled, load_enrolment
from kiosk.sync.worker import SyncStats
from kiosk.update.state import load_state

RECENT_FIELDS = ("seq", "wall_time", "clock_synced", "direction", "kind", "decision", "reason", "latency_ms")


class KioskView(Protocol):
    """What the reports read of a running kiosk (`kiosk.app.Kiosk` has all of it): the records the loop, capture
    and sync publish, the lists in force, and what the assembly knew at start. Nothing that decides or records."""

    @property
    def config(self) -> KioskConfig: ...

    @property
    def grabber(self) -> FrameGrabber: ...

    @property
    def metrics(self) -> LoopMetrics: ...

    @property
    def lists(self) -> Published[Snapshot]: ...

    @property
    def sync_status(self) -> Published[SyncStats] | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def started(self) -> float: ...

    @property
    def store_recovery(self) -> Recovery | None: ...

    @property
    def scanners(self) -> Sequence[ScannerThread]: ...

    @property
    def osdp(self) -> Any: ...


@dataclass(frozen=True)
class Readings:
    """A KioskView made by the assembly before the kiosk exists, for the parts that report on it (the status
    page, the heartbeat, systemd's status line): the records it publishes and what it knew at start."""

    config: KioskConfig
    grabber: FrameGrabber
    metrics: LoopMetrics
    lists: Published[Snapshot]
    sync_status: Published[SyncStats] | None
    clock: Clock
    started: float
    store_recovery: Recovery | None
    scanners: Sequence[ScannerThread] = ()
    osdp: Any = None  # OsdpFeedback, when an access panel decides


def store_state(kiosk: KioskView, copy: LoopCopy | None = None) -> dict[str, Any]:
    """The store's faults for the heartbeat and status page: not recording now (and why), commits failed since
    start, a damaged database set aside at start. No personal data: SQLite's words and counts."""
    copy = copy or kiosk.metrics.copy()
    recovery = kiosk.store_recovery
    return {
        "fault": copy.store_fault,
        "errors": copy.store_errors,
        "recovered": None if recovery is None else recovery.summary(),
    }


def heartbeat(kiosk: KioskView, store: EventStore) -> dict[str, Any]:
    """What the centre's dashboard shows about this kiosk (no personal data); `store` is sync's connection."""
    status = store.status(recent=0)
    uptime = time.monotonic() - kiosk.started
    copy = kiosk.metrics.copy()
    return {
        "backlog": status.unsent,
        "oldest_unsent_age_s": store.oldest_unsent_age(kiosk.clock),
        "quarantined": status.quarantined,
        "fps": round(copy.frames / uptime, 2) if uptime > 0 else 0.0,
        "frames": copy.frames,
        "dropped": kiosk.grabber.stats.dropped,
        "camera": {"failures": kiosk.grabber.stats.failures},  # the centre's venue page shows it among the faults
        "decisions": copy.decisions,
        "decision_ms": percentiles(copy.decision_ms),
        "disk_free_mb": shutil.disk_usage(kiosk.config.state_dir).free // 2**20,
        "store": store_state(kiosk, copy),
        "clock_synced": kiosk.clock.synchronised(),
        "version": __version__,
        "boot_id": kiosk.clock.boot_id,
        "uptime_s": round(uptime),
        "occupancy": occupancy_today(kiosk.config),
        "scanners": scanner_state(kiosk),
        "osdp": osdp_state(kiosk),
        "update": load_state(kiosk.config.state_dir).heartbeat(__version__),
    }


def scanner_state(kiosk: KioskView) -> list[dict[str, Any]]:
    """Each scanner module: plugged in now, codes read and refused, times it went away, its last error."""
    return [
        {"name": scanner.name}
        | {k: getattr(scanner.stats, k) for k in ("connected", "scans", "refused")}
        | {"disconnects": scanner.stats.disconnects, "last_error": scanner.stats.last_error}
        for scanner in kiosk.scanners
    ]


def osdp_state(kiosk: KioskView) -> dict[str, Any] | None:
    """The access panel's link (OSDP): online, secure channel up, card reads reported and dropped, commands."""
    osdp = kiosk.osdp
    if osdp is None:
        return None
    stats = osdp.reader.stats
    return {
        "port": osdp.reader.settings.port,
        "online": stats.online,
        "secure": stats.secure,
        "reported": stats.reported,
        "dropped": stats.dropped,
        "commands": stats.commands,
        "refused": stats.refused,
    }


def occupancy_today(config: KioskConfig) -> int | None:
    """How many are inside the venue now, as this gate knows it (its passages and its venue's other gates' since
    local midnight, docs/venue-state.md); None if the store cannot say."""
    local = time.localtime()
    midnight = time.mktime((local.tm_year, local.tm_mon, local.tm_mday, 0, 0, 0, 0, 0, -1))
    try:
        return VenueBook(config.database_path, config.device.id, config.device.venue).occupancy(midnight)
    except StoreError:
        return None


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
        "scanners": scanner_state(kiosk),
        "osdp": osdp_state(kiosk),
        "decode": {"codes": copy.codes, "frames_with_code": copy.frames_with_code, "ms": percentiles(copy.decode_ms)},
        "decisions": {o.value: copy.decisions.get(o.value, 0) for o in Outcome} | copy.decisions,
        "decision_ms": percentiles(copy.decision_ms),
        "errors": {"store": copy.store_errors, "frames": copy.handler_errors},
        "recent": [_recent(row) for row in facts.recent],
        "occupancy": occupancy_today(kiosk.config),
        "store": {
            "events": facts.events,
            "unsent": facts.unsent,
            "oldest_unsent_age_s": _round(facts.oldest_unsent_age_s),
            "quarantined": facts.quarantined,
            **store_state(kiosk, copy),  # fault (not recording now, why), errors, recovered (a damaged file set aside)
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
    published = kiosk.sync_status
    state["running"] = published is not None
    if published is not None:
        stats = published.current
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
