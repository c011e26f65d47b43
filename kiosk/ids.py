"""Event ids: UUIDv7 (RFC 9562), made on the device, unique without coordination.

The 48-bit millisecond timestamp makes ids roughly time-ordered when the clock is right; uniqueness never
depends on the clock (74 random bits), which matters on a Pi that boots at 1970. Order within a boot is given
by the boot id and sequence number stored beside the id, not by the id.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A version 7 UUID for `unix_ms` (now by default)."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    ms &= (1 << 48) - 1  # a clock before 1970 or past 10889 wraps; the random bits still keep ids unique
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 68 & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)
