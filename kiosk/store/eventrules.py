"""What the centre accepts of an event, checked on the kiosk (pure: no I/O, nothing imported from above).

The centre refuses a batch with one malformed event in it (422), and the kiosk then quarantines the whole batch.
Rows read back from a damaged database can be readable yet garbled (a flipped bit in an id, a reason in capitals,
an infinite time), so salvaged rows are held to the centre's rules (central/models.py, EventIn) before they join
the upload queue. tests/test_corrupt_store.py checks that both sides agree on every rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, TypeGuard

from kiosk.events import Event

MAX_SEQ = 2**62


def _pattern(regex: str) -> Callable[[object], bool]:
    compiled = re.compile(regex)
    return lambda value: isinstance(value, str) and compiled.fullmatch(value) is not None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# field -> (the rule, what the rule says). Patterns are whole-text matches, as the centre's are.
_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "event_id": (
        _pattern(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        "not a UUID in lowercase hex",
    ),
    "boot_id": (lambda v: isinstance(v, str) and 1 <= len(v) <= 64, "not a text of 1 to 64 characters"),
    "seq": (lambda v: type(v) is int and 1 <= v <= MAX_SEQ, f"not a whole number from 1 to {MAX_SEQ}"),
    "wall_time": (_number, "not a finite number"),
    "mono_time": (_number, "not a finite number"),
    "clock_synced": (lambda v: type(v) in (bool, int) and v in (0, 1), "neither true nor false"),
    "device_id": (lambda v: isinstance(v, str), "not a text"),  # the centre ignores it (it knows the device)
    "venue": (lambda v: isinstance(v, str), "not a text"),  # likewise; the store needs both
    "direction": (lambda v: v in ("in", "out"), "not in or out"),
    "kind": (_pattern(r"[a-z-]{1,16}"), "not 1 to 16 lowercase letters and dashes"),
    "subject_key": (lambda v: v is None or _pattern(r"[0-9a-f]{32}")(v), "not 32 lowercase hex digits"),
    "decision": (lambda v: v in ("ACCEPT", "DENY", "REVIEW"), "not ACCEPT, DENY or REVIEW"),
    "reason": (_pattern(r"[a-z0-9-]{1,48}"), "not 1 to 48 lowercase letters, digits and dashes"),
    "decoder": (_pattern(r"[a-z0-9-]{1,16}"), "not 1 to 16 lowercase letters, digits and dashes"),
    "latency_ms": (lambda v: _number(v) and v >= 0, "not a finite number of 0 or more"),
}
FIELDS = tuple(f.name for f in fields(Event))  # every one has a rule (tests/test_corrupt_store.py)


def event_problem(row: Mapping[str, Any]) -> str | None:
    """What is wrong with an event row (as stored or as uploaded) for the centre; None if it would be accepted.

    The answer names the field and the rule, never the value (a garbled row may hold anything).
    """
    for name, (rule, says) in _RULES.items():
        if name not in row:
            return f"{name}: missing"
        if not rule(row[name]):
            return f"{name}: {says}"
    return None
