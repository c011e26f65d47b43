"""Deciding: a credential (already parsed, already keyed) in, ACCEPT / DENY / REVIEW and a reason code out.

The policy sees no QR text and does no I/O. The first mode is `log-only`, which is what the 2021 check-in
campaign asked of venues: every readable code is recorded and acknowledged. Verifying modes plug in here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from kiosk.credentials import Credential


class Outcome(StrEnum):
    ACCEPT = "ACCEPT"
    DENY = "DENY"
    REVIEW = "REVIEW"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str  # stable code: what the store records, the server counts and the voice looks up


class Policy(Protocol):
    def decide(self, credential: Credential, subject_key: str | None) -> Decision: ...


class LogOnlyPolicy:
    """Accept and record everything readable, except subject keys on the denylist."""

    def __init__(self, denylist: Iterable[str] = ()) -> None:
        self._denied = frozenset(denylist)

    def decide(self, credential: Credential, subject_key: str | None) -> Decision:
        if subject_key is not None and subject_key in self._denied:
            return Decision(Outcome.DENY, "denylisted")
        if credential.problem is not None:
            return Decision(Outcome.ACCEPT, "logged-malformed")
        return Decision(Outcome.ACCEPT, "logged")
