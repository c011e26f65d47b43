"""Commands from the gate's buttons to the frame loop (which records what they cause before it happens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # "guard-accept" (the guard accepts the person under REVIEW), "exit" (request to exit), or "visit"
    at: float  # monotonic seconds when the button was pressed
    host: str = ""  # "visit": whom the visitor under REVIEW visits, and why (the guard's page)
    purpose: str = ""
