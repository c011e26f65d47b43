"""Deciding: a credential (parsed, verified, keyed) in, ACCEPT / DENY / REVIEW with a stable reason out.

Modes, per venue:
  log-only     record and acknowledge every readable code (what the 2021 check-in campaign asked of venues)
  identity     any identity code (CCCD, PC-Covid, or a valid signed credential), checked against the status list
  certificate  a valid vaccination, test or recovery certificate, judged by the venue's rules
  pass         a valid health-declaration pass: green enters, yellow waits for the guard, red is refused
  access       a person the venue enrolled (the access list), inside a window of one of their groups, at a gate
               that group may use; anyone else is refused, or sent to the guard or the visitor desk
The denylist applies in every mode; the status list, signatures, validity and anti-passback in all but log-only.
The policy sees no QR text and does no I/O of its own (the passage history is a seam).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from kiosk.credentials import Credential, Kind
from kiosk.policy.access import AccessList
from kiosk.policy.health import CertificateRules, judge_health
from kiosk.policy.messages import message
from kiosk.policy.statuslist import StatusList

SIGNED = frozenset({Kind.EU_DCC, Kind.SHC, Kind.VDS_NC, Kind.PASS, Kind.ACCESS_PASS})
ADMITTED_BY_TYPE = {"badge": "badge-ok", "visitor": "visitor-pass-ok", "ticket": "ticket-ok"}
CERTIFICATES = frozenset({Kind.EU_DCC, Kind.SHC, Kind.VDS_NC})


class Outcome(StrEnum):
    ACCEPT = "ACCEPT"
    DENY = "DENY"
    REVIEW = "REVIEW"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str  # stable code: what the store records, the server counts and the voice looks up

    def message(self, language: str = "vi") -> str:
        return message(self.reason, language)


class Policy(Protocol):
    def decide(self, credential: Credential, subject_key: str | None, now: datetime) -> Decision: ...


class SingleUseClaims(Protocol):
    def claim(self, subject_key: str) -> str:
        """Claim the first entry on a single-use pass across the venue's gates: "first", "used" or "unknown"
        (neither the centre nor every peer could say, within a bound the guard does not notice)."""
        ...


class PassageHistory(Protocol):
    def last_accepted(self, subject_key: str, venue: str) -> tuple[str, float] | None:
        """(direction, wall time) of the subject's last accepted passage at `venue`, or None."""
        ...

    def entered(self, subject_key: str, venue: str) -> bool:
        """Whether the subject was ever let in (direction "in") at `venue`: a single-use pass's use."""
        ...


@dataclass(frozen=True)
class VenuePolicy:
    """The policy of one gate, made from its settings and lists (`kiosk.policy.snapshot`); never changed after."""

    mode: str = "log-only"
    denylist: frozenset[str] = frozenset()
    status: StatusList = field(default_factory=StatusList)
    rules: CertificateRules = field(default_factory=CertificateRules)
    trust_issued_at: datetime | None = None
    trust_max_h: float = 0.0  # refuse signed credentials when the trust list is older; 0: never
    clock_synced: Callable[[], bool] = lambda: True
    anti_passback_s: float = 0.0  # refuse a second passage in the same direction within this; 0: off
    history: PassageHistory | None = None
    venue: str = ""
    direction: str = "in"
    access: AccessList = field(default_factory=AccessList)
    gate: str = ""  # this kiosk's device id, for groups that may use some gates only
    strangers: str = "deny"  # access mode, a person not enrolled: "deny", "review" or "visitor"
    claims: SingleUseClaims | None = None  # the venue's other gates and the centre (docs/venue-state.md)
    single_use_offline: str = "accept"  # a single-use pass no one could confirm: "accept" (flagged later) or "review"

    def decide(self, credential: Credential, subject_key: str | None, now: datetime) -> Decision:
        if subject_key is not None and subject_key in self.denylist:
            return Decision(Outcome.DENY, "denylisted")
        if self.mode == "log-only":
            return Decision(Outcome.ACCEPT, "logged" if credential.problem is None else "logged-malformed")
        return (
            self._readable(credential)
            or self._genuine(credential, now)
            or self._flagged(subject_key, now)
            or self._pass_limits(credential, subject_key, now)
            or self._passback(subject_key, now)
            or self._by_mode(credential, subject_key, now)
        )

    def _readable(self, credential: Credential) -> Decision | None:
        if credential.kind is Kind.UNKNOWN:
            return Decision(Outcome.DENY, "unknown-code")
        if credential.problem is not None:
            return Decision(Outcome.DENY, "malformed")
        return None

    def _genuine(self, credential: Credential, now: datetime) -> Decision | None:
        if credential.kind not in SIGNED:
            return None
        if self.trust_max_h and self._trust_age_h(now) > self.trust_max_h:
            return Decision(Outcome.DENY, "trust-list-stale")
        if credential.signature == "invalid":
            return Decision(Outcome.DENY, "signature-invalid")
        if credential.signature == "unknown-key":
            return Decision(Outcome.DENY, "unknown-signer")
        if credential.expiry == "not-yet-valid" and not self.clock_synced():
            return Decision(Outcome.REVIEW, "clock-unsynchronised")  # likely our clock, not the code
        if credential.expiry in ("expired", "not-yet-valid"):
            return Decision(Outcome.DENY, credential.expiry)
        if credential.reasons:
            return Decision(Outcome.DENY, credential.reasons[0])
        return None

    def _trust_age_h(self, now: datetime) -> float:
        if self.trust_issued_at is None:
            return float("inf")
        return (now - self.trust_issued_at).total_seconds() / 3600

    def _flagged(self, subject_key: str | None, now: datetime) -> Decision | None:
        status = self.status.status(subject_key, now)
        if status == "red":
            return Decision(Outcome.DENY, "status-red")
        if status == "yellow":
            return Decision(Outcome.REVIEW, "status-yellow")
        return None

    def _pass_limits(self, credential: Credential, subject_key: str | None, now: datetime) -> Decision | None:
        """An access pass admits at its venue only, not once revoked (its id on the status list), and a single-use
        one only into the venue once: leaving on it is always allowed."""
        if credential.kind is not Kind.ACCESS_PASS:
            return None
        details = credential.details
        if details.get("venue") != self.venue:
            return Decision(Outcome.DENY, "wrong-venue")
        if self.status.status(str(details.get("pass_id")), now) is not None:
            return Decision(Outcome.DENY, "pass-revoked")
        holder = str(details.get("holder"))
        if holder != subject_key and (flagged := self._flagged(holder, now)) is not None:
            return flagged  # a single-use pass is recorded under its id: its holder's own entry still counts
        if not (details.get("single_use") and self.direction == "in" and subject_key is not None):
            return None
        if self.history is not None and self.history.entered(subject_key, self.venue):
            return Decision(Outcome.DENY, "pass-used")
        if self.claims is None:
            return None
        answer = self.claims.claim(subject_key)  # the one place a decision waits on others, bounded (300 ms each)
        if answer == "used":
            return Decision(Outcome.DENY, "pass-used")
        if answer == "unknown" and self.single_use_offline == "review":
            return Decision(Outcome.REVIEW, "pass-unconfirmed")
        return None

    def _passback(self, subject_key: str | None, now: datetime) -> Decision | None:
        if not self.anti_passback_s or subject_key is None or self.history is None:
            return None
        last = self.history.last_accepted(subject_key, self.venue)
        if last is not None and last[0] == self.direction and now.timestamp() - last[1] < self.anti_passback_s:
            return Decision(Outcome.DENY, "passback")
        return None

    def _by_mode(self, credential: Credential, subject_key: str | None, now: datetime) -> Decision:
        if self.mode == "access":
            if credential.kind is Kind.ACCESS_PASS:
                return Decision(Outcome.ACCEPT, ADMITTED_BY_TYPE[str(credential.details["type"])])
            return self._enrolled(subject_key, now)
        if self.mode == "identity":
            return Decision(Outcome.ACCEPT, "identity-ok") if subject_key else Decision(Outcome.REVIEW, "no-identity")
        if self.mode == "certificate":
            if credential.kind not in CERTIFICATES:
                return Decision(Outcome.DENY, "certificate-required")
            failure = judge_health(credential.health, self.rules, now)
            return Decision(Outcome.DENY, failure) if failure else Decision(Outcome.ACCEPT, "certificate-ok")
        if credential.kind is not Kind.PASS:
            return Decision(Outcome.DENY, "declaration-required")
        status = credential.health[0].status if credential.health else None
        if status == "green":
            return Decision(Outcome.ACCEPT, "pass-ok")
        return Decision(Outcome.REVIEW, "pass-yellow") if status == "yellow" else Decision(Outcome.DENY, "pass-red")

    def _enrolled(self, subject_key: str | None, now: datetime) -> Decision:
        if self.direction == "out":
            return Decision(Outcome.ACCEPT, "exit-ok")  # nobody is kept in: leaving needs no window or enrolment
        if subject_key is None:
            return Decision(Outcome.REVIEW, "no-identity")
        verdict = self.access.check(subject_key, now, self.gate)
        if verdict == "access-ok":
            return Decision(Outcome.ACCEPT, verdict)
        if verdict is not None:
            return Decision(Outcome.DENY, verdict)
        if self.strangers == "visitor":
            return Decision(Outcome.REVIEW, "visitor")
        return Decision(Outcome.REVIEW if self.strangers == "review" else Outcome.DENY, "not-enrolled")


def log_only(denylist: Iterable[str] = ()) -> VenuePolicy:
    """The 2021 campaign's policy: record everything readable, refuse only the denylist."""
    return VenuePolicy(denylist=frozenset(denylist))
