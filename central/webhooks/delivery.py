"""Delivering the outbox: each endpoint's events in batches, at least once, retried with backoff per endpoint.

One round (`Delivery.run_once`, what `kiosk-central webhooks deliver --once` runs and the worker thread repeats)
sends every due endpoint's backlog until it is empty or the endpoint fails; a few threads share the endpoints, so
one that hangs until its timeout holds up no other. A batch:

1. claim: in one short transaction, take a due endpoint whose lease is free (PostgreSQL: `FOR UPDATE SKIP
   LOCKED`, so worker processes never take the same one; SQLite: one process-wide lock, the database's write
   lock doing the rest) and lease it for longer than a request can take. Its batch is the one in flight if it
   has one (a retry: the same events, the same Idempotency-Key), else its oldest queued rows, then marked with a
   new key (the outbox rows are also taken `FOR UPDATE SKIP LOCKED`);
2. POST, outside any transaction, with `requests`, a timeout, and no redirect followed (a 3xx is a failure: the
   events never go to a host nobody configured);
3. settle: a 2xx deletes the batch's rows and clears the failures; anything else (other status, timeout,
   refused or reset connection) counts a failure and sets the next attempt by the schedule, honouring a
   Retry-After up to the cap. Nothing is dropped: rows stay until acknowledged or removed by the events'
   retention, so a receiver back after a day gets everything.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Connection, Engine, delete, exists, or_, select, update

from central.feed.payload import documents
from central.timeutil import utcnow
from central.webhooks.endpoints import Endpoint
from central.webhooks.signing import headers
from central.webhooks.tables import event_feed, webhook_endpoints, webhook_outbox

log = logging.getLogger(__name__)
BATCH = 100
TIMEOUT_S = 10.0
PARALLEL = 4
MAX_BATCHES_PER_ROUND = 10_000  # a round ends even if events keep coming faster than they are sent
_SQLITE_CLAIMS = threading.Lock()


@dataclass(frozen=True)
class Schedule:
    """The wait after the n-th failure in a row: base × 2^(n−1), at most `cap_s`, times a random factor in
    [0.5, 1] (jitter, so endpoints failing together do not retry together)."""

    base_s: float = 5.0
    cap_s: float = 900.0

    def delay_s(self, failures: int, rng: random.Random) -> float:
        top = min(self.cap_s, self.base_s * 2 ** min(max(failures, 1) - 1, 40))
        return float(top * rng.uniform(0.5, 1.0))


@dataclass(frozen=True)
class Batch:
    endpoint: Endpoint
    key: str  # the Idempotency-Key: the same on every attempt of these events
    seqs: list[int]
    events: list[dict[str, Any]]
    failures: int  # before this attempt


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    key: str
    events: int
    ok: bool
    error: str | None = None


class Delivery:
    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        wall: Callable[[], float] = time.time,
        timeout_s: float = TIMEOUT_S,
        batch_size: int = BATCH,
        parallel: int = PARALLEL,
        schedule: Schedule | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock  # when things are due (a test moves it by a day)
        self.wall = wall  # the X-Kiosk-Timestamp a receiver checks against its own clock
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.parallel = max(1, parallel)
        self.schedule = schedule or Schedule()
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self.lease = timedelta(seconds=2 * timeout_s + 60)
        sqlite = engine.dialect.name == "sqlite"
        self._claims: AbstractContextManager[object] = _SQLITE_CLAIMS if sqlite else nullcontext()

    def run_once(self) -> list[Outcome]:
        """Send what is due now; returns what each attempt did."""
        outcomes: list[Outcome] = []
        budget = [MAX_BATCHES_PER_ROUND]
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="webhooks") as pool:
            for future in [pool.submit(self._drain, outcomes, budget) for _ in range(self.parallel)]:
                future.result()
        return outcomes

    def _drain(self, outcomes: list[Outcome], budget: list[int]) -> None:
        with requests.Session() as session:
            session.trust_env = False  # no proxy or .netrc credentials from the environment
            while budget[0] > 0:
                budget[0] -= 1
                batch = self.claim()
                if batch is None:
                    return
                outcomes.append(self.send(session, batch))

    def claim(self) -> Batch | None:
        """A due endpoint, leased, with its batch (the one in flight, else a new one); None if none is due."""
        now = self.clock()
        with self._claims, self.engine.begin() as conn:
            row = conn.execute(_due(now)).first()
            if row is None:
                return None
            free = or_(webhook_endpoints.c.lease_until.is_(None), webhook_endpoints.c.lease_until < now)
            leased = update(webhook_endpoints).where(webhook_endpoints.c.id == row.id, free)
            if conn.execute(leased.values(lease_until=now + self.lease)).rowcount != 1:
                return None
            key, seqs = self._batch_of(conn, row.id, row.batch_key)
            in_batch = select(event_feed).where(event_feed.c.seq.in_(seqs)).order_by(event_feed.c.seq)
            feed_rows = list(conn.execute(in_batch))
            endpoint = Endpoint(row.id, row.name, row.url, row.secret, tuple(row.fields))
            found = documents(conn, feed_rows, endpoint.fields)
            return Batch(endpoint, key, seqs, found, int(row.failures))

    def _batch_of(self, conn: Connection, endpoint_id: int, in_flight: str | None) -> tuple[str, list[int]]:
        mine = webhook_outbox.c.endpoint_id == endpoint_id
        if in_flight:
            query = select(webhook_outbox.c.seq).where(mine, webhook_outbox.c.batch_key == in_flight)
            seqs = list(conn.execute(query.order_by(webhook_outbox.c.seq)).scalars())
            if seqs:
                return in_flight, seqs
        queued = select(webhook_outbox.c.seq).where(mine, webhook_outbox.c.batch_key.is_(None))
        queued = queued.order_by(webhook_outbox.c.seq).limit(self.batch_size).with_for_update(skip_locked=True)
        seqs = list(conn.execute(queued).scalars())
        key = str(uuid.uuid4())
        conn.execute(update(webhook_outbox).where(mine, webhook_outbox.c.seq.in_(seqs)).values(batch_key=key))
        conn.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(batch_key=key))
        return key, seqs

    def send(self, session: requests.Session, batch: Batch) -> Outcome:
        """POST the batch and settle it; an empty one (its events removed by retention) is settled unsent."""
        if not batch.events:
            return self._settle(batch, None, None)
        body = json.dumps(
            {"batch": batch.key, "endpoint": batch.endpoint.name, "events": batch.events},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        signed = headers(batch.endpoint.secret, int(self.wall()), body, batch.key)
        signed["User-Agent"] = "kiosk-central-webhooks/1"
        retry_after: float | None = None
        try:
            answer = session.post(
                batch.endpoint.url,
                data=body,
                headers=signed,
                timeout=(min(5.0, self.timeout_s), self.timeout_s),
                allow_redirects=False,
            )
            answer.close()
        except requests.Timeout:
            error: str | None = f"no answer within {self.timeout_s:g} s"
        except requests.ConnectionError as exc:
            error = f"cannot connect: {_reason(exc)}"
        except requests.RequestException as exc:
            error = f"request failed: {type(exc).__name__}"
        else:
            error = None if 200 <= answer.status_code < 300 else _refusal(answer)
            retry_after = _retry_after(answer.headers.get("Retry-After")) if error else None
        return self._settle(batch, error, retry_after)

    def _settle(self, batch: Batch, error: str | None, retry_after: float | None) -> Outcome:
        now = self.clock()
        endpoint = webhook_endpoints.c.id == batch.endpoint.id
        with self.engine.begin() as conn:
            if error is None:
                mine = (webhook_outbox.c.endpoint_id == batch.endpoint.id) & (webhook_outbox.c.batch_key == batch.key)
                conn.execute(delete(webhook_outbox).where(mine))
                done: dict[str, Any] = {"lease_until": None, "batch_key": None}
                if batch.events:  # an empty batch (its events gone by retention) says nothing of the receiver
                    done |= {"failures": 0, "next_attempt_at": None, "last_success_at": now}
                conn.execute(update(webhook_endpoints).where(endpoint).values(done))
            else:
                failures = batch.failures + 1
                wait = self.schedule.delay_s(failures, self.rng)
                if retry_after is not None:
                    wait = max(wait, min(retry_after, self.schedule.cap_s))
                state = {"failures": failures, "next_attempt_at": now + timedelta(seconds=wait), "lease_until": None}
                conn.execute(
                    update(webhook_endpoints)
                    .where(endpoint)
                    .values({**state, "last_error": error[:500], "last_error_at": now})
                )
                log.warning("webhook %s: %s; retry in %.0f s", batch.endpoint.name, error, wait)
        return Outcome(batch.endpoint.name, batch.key, len(batch.events), error is None, error)


def _due(now: datetime) -> Any:
    queued = exists().where(webhook_outbox.c.endpoint_id == webhook_endpoints.c.id)
    return (
        select(webhook_endpoints)
        .where(
            or_(webhook_endpoints.c.next_attempt_at.is_(None), webhook_endpoints.c.next_attempt_at <= now),
            or_(webhook_endpoints.c.lease_until.is_(None), webhook_endpoints.c.lease_until < now),
            queued,
        )
        .order_by(webhook_endpoints.c.next_attempt_at.asc().nulls_first(), webhook_endpoints.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=webhook_endpoints)
    )


def _refusal(answer: requests.Response) -> str:
    if 300 <= answer.status_code < 400:
        return f"HTTP {answer.status_code}: redirect to {answer.headers.get('Location', '?')[:100]} not followed"
    return f"HTTP {answer.status_code}"


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Connection reset", "Name or service not known", "timed out"):
        if known in text:
            return known.lower()
    return type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (an HTTP date is not honoured: the schedule applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class DeliveryWorker:
    """The delivery loop in a thread of the server process, as central/maintenance.py's: a round every
    `every_s` seconds; a failed round is logged and the next one tries again."""

    def __init__(self, delivery: Delivery, every_s: float = 2.0) -> None:
        self.delivery = delivery
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait until the thread ends (it ends when stopped): `webhooks deliver` in the foreground."""
        while self._thread.is_alive():
            self._thread.join(1.0)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.delivery.run_once()
            except Exception:  # the database away for a moment: the next round tries again
                log.exception("webhook delivery round failed")
