"""Housekeeping in the server process, hourly: partitions made ahead, and what is past its time removed.

- events (and their ids, feed rows and undelivered webhook outbox rows) and visits received more than
  `retention_days` ago (serve --retention-days);
- declarations whose pass expired more than `retention_days` ago: the sealed phone goes with them;
- audit-log entries older than `audit_days` (serve --audit-retention-days; kept when not set: the record of who
  looked at whom should outlive what was looked at);
- always: expired or idle staff sessions, login failures past the throttling window, device nonces and tokens
  past their expiry. None of these is needed once expired.

Without --retention-days events and declarations are kept for ever, and the server says so at start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, or_

from central.declarations.issuing import purge as purge_declarations
from central.diagnostics.store import purge as purge_diagnostics
from central.partitions import ensure_partitions, purge_before
from central.schema import audit_log, auth_nonces, auth_tokens, login_failures, visits, web_sessions
from central.timeutil import utcnow
from central.web.sessions import IDLE
from central.webhooks.outbox import purge_outgoing

log = logging.getLogger(__name__)
EVERY_S = 3600.0
LOGIN_FAILURES_KEPT = timedelta(days=1)  # far past the 15-minute throttling window


@dataclass
class Removed:
    """What one round removed, by kind (partitions dropped count as one each on PostgreSQL)."""

    events: int = 0
    declarations: int = 0
    visits: int = 0
    audit: int = 0
    sessions: int = 0
    login_failures: int = 0
    device_auth: int = 0
    made: list[str] = field(default_factory=list)


class Maintenance:
    def __init__(
        self,
        engine: Engine,
        retention_days: int | None,
        *,
        audit_days: int | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.audit_days = audit_days
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)

    def start(self) -> None:
        if not self.retention_days:
            log.warning("no --retention-days: events and declarations are kept for ever (see PRIVACY.md)")
        self.run_once()  # partitions for today exist before the first upload
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> Removed:
        now = self.clock()
        removed = Removed(made=ensure_partitions(self.engine, now.date()))
        if removed.made:
            log.info("made partitions %s", ", ".join(removed.made))
        if self.retention_days:
            removed.events = purge_before(self.engine, now.date() - timedelta(days=self.retention_days))
        with self.engine.begin() as conn:
            if self.retention_days:
                removed.declarations = purge_declarations(conn, now - timedelta(days=self.retention_days))
                old_visits = delete(visits).where(visits.c.received_at < now - timedelta(days=self.retention_days))
                removed.visits = conn.execute(old_visits).rowcount
                purge_outgoing(conn, now.date() - timedelta(days=self.retention_days))  # the feed and the outbox
            if self.audit_days:
                old = delete(audit_log).where(audit_log.c.at < now - timedelta(days=self.audit_days))
                removed.audit = conn.execute(old).rowcount
            _expired(conn, now, removed)
        _report(removed, self.retention_days)
        return removed

    def _run(self) -> None:
        while not self._stop.wait(EVERY_S):
            try:
                self.run_once()
            except Exception:  # a failed round is retried an hour later; serving goes on
                log.exception("maintenance failed")


def _expired(conn: Connection, now: datetime, removed: Removed) -> None:
    """Sessions, login failures and device credentials that can no longer be used."""
    idle = or_(web_sessions.c.expires_at < now, web_sessions.c.last_seen_at < now - IDLE)
    removed.sessions = conn.execute(delete(web_sessions).where(idle)).rowcount
    failures = delete(login_failures).where(login_failures.c.at < now - LOGIN_FAILURES_KEPT)
    removed.login_failures = conn.execute(failures).rowcount
    removed.device_auth = conn.execute(delete(auth_nonces).where(auth_nonces.c.expires_at < now)).rowcount
    removed.device_auth += conn.execute(delete(auth_tokens).where(auth_tokens.c.expires_at < now)).rowcount
    purge_diagnostics(conn, now)  # a technician's requests and the kiosks' answers: 30 days


def _report(removed: Removed, retention_days: int | None) -> None:
    if removed.events or removed.declarations or removed.visits:
        log.info(
            "retention (%s days): removed %d event partitions or rows, %d declarations, %d visits",
            retention_days,
            removed.events,
            removed.declarations,
            removed.visits,
        )
    if removed.audit:
        log.info("audit retention: removed %d audit-log entries", removed.audit)
