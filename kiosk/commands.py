"""Commands from the gate's buttons to the frame loop (which records what they cause before it happens)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    # "guard-accept" (the guard accepts the person under REVIEW), "exit" (request to exit), "visit", or an access
    # panel's answer to the card last reported (docs/osdp.md): "panel-granted", "panel-denied", "panel-no-card",
    # "panel-opened" (an output command: the door opened on the panel's word)
    name: str
    at: float  # monotonic seconds when the button was pressed
    host: str = ""  # "visit": whom the visitor under REVIEW visits, and why (the guard's page)
    purpose: str = ""
