"""Commands from the gate's buttons to the frame loop (which records what they cause before it happens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str  # "guard-accept" (the guard accepts the person under REVIEW) or "exit" (request to exit)
    at: float  # monotonic seconds when the button was pressed
