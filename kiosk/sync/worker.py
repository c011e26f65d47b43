"""The sync thread: uploads the backlog in batches, pulls the config, sends heartbeats. Never drops an event.

It has its own database connection and never touches the frame loop's. An event leaves the upload queue only
when the server has said it holds it; a batch the server refuses as malformed is quarantined (kept, set aside)
so the rest can go; anything else is retried after exponential backoff with full jitter, for ever. The backoff
counts failures in a row (kiosk/sync/backoff.py): a sporadic failure among successes is retried at once in effect,
a centre that keeps failing is backed off up to 5 minutes, and a Retry-After is always waited in full.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from kiosk.clock import Clock
from kiosk.config import PolicyConfig
from kiosk.logs import Throttle
from kiosk.policy.access import AccessList
from kiosk.policy.snapshot import Snapshot
from kiosk.policy.statuslist import StatusList
from kiosk.published import Published
from kiosk.store import EventStore
from kiosk.store.retention import EVERY_S as RETENTION_EVERY_S
from kiosk.store.retention import Retention
from kiosk.sync.backoff import Backoff
from kiosk.sync.client import CentralClient, Refused, Retryable, Revoked
from kiosk.sync.configsync import (
    ACCESS_ETAG_FILE,
    Pulled,
    apply_access,
    apply_config,
    confirm_lists,
    load_etag,
    merge_status,
    save_etag,
    status_version,
)
from kiosk.sync.diagnostics import Diagnostics
from kiosk.sync.effective import policy_with
from kiosk.sync.updates import Updates

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What sync has done since start, as one record: the worker publishes a new one at each change
    (`SyncWorker.status`), and the status page, /metrics, the heartbeat and `kiosk status` read it."""

    batches: int = 0
    held: int = 0
    quarantined: int = 0
    failures: int = 0
    config_updates: int = 0
    last_success: float | None = None  # monotonic
    last_error: str | None = None
    revoked: bool = False


@dataclass
class SyncTimers:
    poll_s: float = 2.0  # look for new events this often when idle (the loop also wakes the worker)
    heartbeat_s: float = 60.0
    config_s: float = 300.0


class SyncWorker:
    def __init__(
        self,
        *,
        database: Path,
        state_dir: Path,
        client: CentralClient,
        clock: Clock,
        heartbeat: Callable[[EventStore], dict[str, Any]],
        lists: Published[Snapshot] | None = None,
        policy_base: PolicyConfig | None = None,
        alarm: Callable[[str], None] = lambda reason: None,
        timers: SyncTimers | None = None,
        backoff: Backoff | None = None,
        batch: int = BATCH,
        retention: Retention | None = None,
        doorbell: threading.Event | None = None,
        status: Published[SyncStats] | None = None,
        updates: Updates | None = None,
        confirm_s: float = 120.0,
        diagnostics: Diagnostics | None = None,
    ) -> None:
        self.database = database
        self.state_dir = state_dir
        self.client = client
        self.clock = clock
        self.heartbeat_body = heartbeat
        self.lists = lists  # where new lists are published for the loop (None: written to disk only)
        self.policy_base = policy_base  # the config file's policy, under the centre's settings
        self.alarm = alarm
        self.timers = timers or SyncTimers()
        self.backoff = backoff or Backoff()
        self.batch = batch
        self.retention = retention  # sent events past store.retention_days, deleted once an hour
        self.status: Published[SyncStats] = status or Published(SyncStats())  # read by the reports
        self.updates = updates  # signed releases the centre offers (docs/updates.md); None: not taken
        self.confirm_s = confirm_s
        self.diagnostics = diagnostics  # a technician's request from the centre, answered after a pull
        self._started = time.monotonic()
        self._retry_after: float | None = None
        self._not_before = 0.0  # monotonic: no upload before this (backoff, Retry-After)
        self._stop = threading.Event()
        self._wake = doorbell or threading.Event()  # rung by `wake`, or by the loop directly after each commit
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._throttle = Throttle(log, every_s=60.0)

    @property
    def stats(self) -> SyncStats:
        """The current record (also `status.current`)."""
        return self.status.current

    def _note(self, **changes: Any) -> None:
        """A new record with `changes`: only the sync thread writes, so nothing is lost between read and publish."""
        self.status.publish(replace(self.status.current, **changes))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """A new event was committed: upload soon instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        store = EventStore(self.database)
        try:
            due = {"heartbeat": 0.0, "config": 0.0, "retention": 0.0}
            while not self._stop.is_set():
                try:
                    wait = self._round(store, due)
                except Exception:  # a bug or a store error: logged, retried after a backoff, never the end of sync
                    self._throttle.error("round", "sync round failed; retrying", exc_info=True)
                    wait = self._retry_wait()
                    self._not_before = time.monotonic() + wait
                self._wake.wait(wait)
                self._wake.clear()
                self._hold_off()
        finally:
            store.close()

    def _round(self, store: EventStore, due: dict[str, float]) -> float:
        """One round of work; returns how long to wait before the next."""
        now = time.monotonic()
        if now >= due["config"]:
            due["config"] = now + (self.timers.config_s if self.pull_config() else self._retry_wait())
        if now >= due["heartbeat"]:
            due["heartbeat"] = now + (self.timers.heartbeat_s if self.send_heartbeat(store) else self._retry_wait())
        if self.retention is not None and now >= due["retention"]:
            due["retention"] = now + RETENTION_EVERY_S
            self.retention.purge(self.clock.wall(), clock_synced=self.clock.synchronised())
        started = time.monotonic()
        outcome = self.upload_once(store)
        if outcome in ("sent", "quarantined"):
            return 0.0  # more may be waiting: go on at once (a refused batch is set aside, not a reason to stop)
        if outcome == "retry":
            wait = self._retry_wait(spent_s=time.monotonic() - started)  # a stall's timeout counts as waiting
            self._not_before = time.monotonic() + wait
            return wait
        return self.timers.poll_s if outcome == "idle" else 3600.0  # revoked: wait for a human

    def upload_once(self, store: EventStore) -> str:
        """Send one batch: "idle" (nothing to send), "sent", "quarantined", "retry" or "revoked"."""
        if self.stats.revoked:
            return "revoked"
        events = store.unsent(self.batch)
        if not events:
            return self._upload_visits(store)  # after their events: the centre then knows each visit's passage
        try:
            held = self.client.upload([e.as_row() for e in events], self._device_time())
        except Retryable as exc:
            return self._failed(exc, exc.retry_after)
        except Refused as exc:
            return self._quarantine(store, [e.event_id for e in events], str(exc))
        except Revoked as exc:
            return self._revoked(exc)
        sent = store.mark_sent(held, self.clock.wall())
        self._succeeded()
        self._note(batches=self.stats.batches + 1, held=self.stats.held + sent)
        if not set(held) & {e.event_id for e in events}:
            return self._failed(Retryable("the server held none of the batch"), None)
        return "sent"

    def _upload_visits(self, store: EventStore) -> str:
        visits = store.unsent_visits(self.batch)
        if not visits:
            return "idle"
        try:
            held = self.client.visits([v.as_row() for v in visits])
        except (Retryable, Refused) as exc:  # kept, and sent again: a visit refused now may be taken by a fixed centre
            return self._failed(Retryable(str(exc)), getattr(exc, "retry_after", None))
        except Revoked as exc:
            return self._revoked(exc)
        store.mark_visits_sent(held, self.clock.wall())
        self._succeeded()
        return "sent" if set(held) & {v.visit_id for v in visits} else self._failed(Retryable("no visit held"), None)

    def pull_config(self) -> bool:
        """Fetch the config if it changed, and the status list's changes; False if the server could not say.
        What changed is written to disk (the last good copy) and published to the loop as a new snapshot."""
        pulled, status, access = Pulled(), None, None
        try:
            answer = self.client.config(load_etag(self.state_dir))
            at = self.client.server_time
            if answer is not None:
                document, etag = answer
                pulled = apply_config(self.state_dir, document)
                self._take_requests(document)
                wanted = document.get("status_list_version")
                if isinstance(wanted, int) and wanted != status_version(self.state_dir):
                    since = status_version(self.state_dir)
                    status = merge_status(self.state_dir, self.client.status_list(since if wanted > since else 0))
                save_etag(self.state_dir, etag)  # only now: a failed status fetch is tried again at the next pull
            access = self._pull_access()
            self._act_on_requests()
        except (Retryable, Refused, Revoked) as exc:
            return self._unanswered(exc)
        except OSError as exc:  # a full disk: the last good lists stay; the heartbeat and uploads still go
            self._throttle.error("config-write", "config not written, the last good copy is kept: %s", exc)
            return False
        try:
            confirmed = confirm_lists(self.state_dir, at) if at is not None else []
        except OSError as exc:
            self._throttle.error("config-write", "list ages not confirmed on disk: %s", exc)
            confirmed = []
        if pulled or status is not None or access is not None:
            self._note(config_updates=self.stats.config_updates + 1)
        if pulled or status is not None or access is not None or confirmed:
            self._publish(pulled, status or pulled.status, confirmed, at, access)
        return True

    def _take_requests(self, document: dict[str, Any]) -> None:
        """What the config document asks beyond the lists: an update offered, diagnostics asked."""
        if self.updates is not None:
            self.updates.remember(document)
        if self.diagnostics is not None:
            self.diagnostics.remember(document)

    def _act_on_requests(self) -> None:
        """At every pull, not only when the document changed: a fetch or an answer that failed is tried again."""
        if self.updates is not None:
            self.updates.retry()
        if self.diagnostics is not None:
            self.diagnostics.answer()

    def _pull_access(self) -> AccessList | None:
        """The venue's access list if it changed since the copy held (asked on every pull: a 304 costs the centre
        one small read, and a venue switched to access mode has its list in the same round)."""
        answer = self.client.access_list(load_etag(self.state_dir, ACCESS_ETAG_FILE))
        return None if answer is None else apply_access(self.state_dir, *answer)

    def _publish(
        self,
        pulled: Pulled,
        status: StatusList | None,
        confirmed: list[str],
        at: datetime | None,
        access: AccessList | None = None,
    ) -> None:
        """A new snapshot for the loop: the lists that came, over those in force; a confirmed list's age reset."""
        if self.lists is None:
            return
        current = self.lists.current
        trust, status = pulled.trust or current.trust, status or current.status
        if at is not None and "trust_list" in confirmed:
            trust = replace(trust, issued_at=at)
        if at is not None and "status_list" in confirmed:
            status = replace(status, issued_at=at)
        settings = current.settings
        if pulled.policy is not None and self.policy_base is not None:
            settings = policy_with(self.policy_base, pulled.policy)
        snapshot = current.with_lists(trust=trust, status=status, settings=settings, access=access)
        self.lists.publish(snapshot)
        log.info(
            "lists published: policy %s, %d status entries, %d people enrolled",
            settings.mode,
            len(status.entries),
            len(snapshot.access),
        )

    def send_heartbeat(self, store: EventStore) -> bool:
        if self.updates is not None:  # before the heartbeat, so that it reports the release kept
            try:
                self.updates.confirm(time.monotonic() - self._started, self.confirm_s)
            except OSError as exc:
                self._throttle.error("update-state", "update state not written: %s", exc)
        try:
            self.client.heartbeat(self.heartbeat_body(store))
        except (Retryable, Refused, Revoked) as exc:
            return self._unanswered(exc)
        return True

    def _unanswered(self, exc: Retryable | Refused | Revoked) -> bool:
        """The centre did not do what was asked: a failure counted and backed off, or (revoked) the end of sync
        until a human enrols the kiosk again. False, for the caller to return."""
        if isinstance(exc, Revoked):
            self._revoked(exc)
        else:
            self._failed(exc, exc.retry_after if isinstance(exc, Retryable) else None)
        return False

    def _device_time(self) -> dict[str, Any]:
        clock = self.clock
        return {
            "wall": clock.wall(),
            "mono": clock.monotonic(),
            "boot_id": clock.boot_id,
            "synced": clock.synchronised(),
        }

    def _failed(self, exc: Exception, retry_after: float | None) -> str:
        self._note(failures=self.stats.failures + 1, last_error=str(exc))
        self._retry_after = retry_after
        self._throttle.error("sync", "sync failed, will retry: %s", exc)
        return "retry"

    def _hold_off(self) -> None:
        """A wake (the loop committed an event) ends an idle wait at once, but never a backoff or a Retry-After:
        at a busy gate it would otherwise retry at every passage."""
        left = self._not_before - time.monotonic()
        if left > 0:
            self._stop.wait(left)

    def _retry_wait(self, spent_s: float = 0.0) -> float:
        return self.backoff.delay(self._retry_after, spent_s)

    def _succeeded(self) -> None:
        self.backoff.reset()
        self._retry_after = None
        self._note(last_success=time.monotonic(), last_error=None)

    def _quarantine(self, store: EventStore, ids: list[str], reason: str) -> str:
        count = store.quarantine(ids, self.clock.wall(), reason)
        self._note(quarantined=self.stats.quarantined + count)
        log.error("server refused a batch of %d events (%s): quarantined, going on with the rest", count, reason)
        self.alarm("quarantine")
        return "quarantined"

    def _revoked(self, exc: Exception) -> str:
        self._note(revoked=True, last_error=str(exc))
        log.error("the server refuses this device (%s): uploads stop, events are kept; enrol again", exc)
        self.alarm("revoked")
        return "revoked"
