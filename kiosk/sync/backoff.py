"""Retry pacing: exponential backoff with full jitter (so a fleet coming back online does not stampede),
never less than what the server asked for in Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class Backoff:
    def __init__(self, base_s: float = 1.0, cap_s: float = 300.0, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)

    def delay(self, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt, counting this failure."""
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        self.failures = min(self.failures + 1, 32)
        jittered = self._rng.uniform(0, ceiling)
        return max(jittered, retry_after or 0.0)

    def reset(self) -> None:
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
