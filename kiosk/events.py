"""The record of one passage: everything the kiosk keeps about a decision, and nothing more.

No QR text, no name, no ID number: the person is the subject key. Ordering within a device is (boot_id, seq),
which holds even when the wall clock jumps; `clock_synced` says whether `wall_time` can be trusted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str  # UUIDv7, made on the device
    boot_id: str
    seq: int  # per boot, from 1; assigned by the store when the event is committed
    wall_time: float  # seconds since the epoch, as the device clock read it
    mono_time: float  # monotonic seconds within the boot
    clock_synced: bool
    device_id: str
    venue: str
    direction: str  # "in" or "out"
    kind: str  # credential kind
    subject_key: str | None
    decision: str  # ACCEPT, DENY or REVIEW
    reason: str  # stable reason code
    decoder: str  # which decoder read the code
    latency_ms: float  # frame available -> decision made (before the commit)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Visit:
    """A visitor let in by the guard (access mode, a stranger sent to the visitor desk): whom they visit and why.

    Recorded in the same transaction as its "visit-opened" event; the centre closes it when the same subject key
    leaves the venue. `id_tail` is the last four digits of the ID number shown, for the host to tell their visitor
    apart in a roll call; the rest of the number is never kept."""

    visit_id: str  # UUIDv7, made on the device
    event_id: str  # the visit-opened event
    subject_key: str
    host: str
    purpose: str
    id_tail: str | None
    opened_at: float  # wall time, as the event's

    def as_row(self) -> dict[str, Any]:
        return asdict(self)
