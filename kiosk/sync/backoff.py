"""Retry pacing: exponential backoff with full jitter (so a fleet coming back online does not stampede), counted
over failures in a row, and never less than what the server asked for in Retry-After.

The first retry after a success waits at most `base_s` (20 ms: at once in effect, jittered only so that kiosks
do not retry in step): one failed request among successes costs about its own retry, not a stall of every batch
behind it. Each failure in a row doubles the ceiling, up to `cap_s` (5 min): a centre that keeps failing is at
the cap from the 15th failure, a few minutes on, and then gets one attempt every 150 s on average. A success
starts again from `base_s`.

The wait counts from the start of the failed attempt, as gRPC's connection backoff does ("back off the start
time of connection attempts", grpc/grpc doc/connection-backoff.md): a request that hung until the client's
timeout has kept away from the centre that long already, and is not held back twice.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BASE_S = 0.02
CAP_S = 300.0


class Backoff:
    def __init__(self, base_s: float = BASE_S, cap_s: float = CAP_S, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0  # in a row, since the last success
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)

    def delay(self, retry_after: float | None = None, spent_s: float = 0.0) -> float:
        """Seconds to wait from now before the next attempt, counting this failure: a random wait between 0 and
        base_s * 2**(failures before this one), at most cap_s, counted from the start of the failed attempt,
        `spent_s` ago; and at least `retry_after`, counted from now (the server's answer)."""
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        jittered = self._rng.uniform(0, ceiling)
        return max(jittered - spent_s, retry_after or 0.0, 0.0)

    def reset(self) -> None:
        """A request went through: the next failure is a sporadic one again."""
        self.failures = 0


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 3600.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, seconds), 3600.0)
