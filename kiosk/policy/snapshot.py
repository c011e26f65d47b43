"""What a gate decides with, as one immutable snapshot: the trust list, the status list, the access list and the
venue's policy settings (the config file's, with the centre's laid over them), and the verifier and policy made
from them.

Sync makes a new snapshot from what the centre sent and publishes it whole (`kiosk.published.Published`); the
frame loop takes the current one for each decision. Nothing in a snapshot is changed after it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.clock import Clock
from kiosk.config import PolicyConfig
from kiosk.credentials.trust import TrustStore
from kiosk.credentials.verifier import Verifier
from kiosk.policy.access import AccessList
from kiosk.policy.decide import PassageHistory, SingleUseClaims, VenuePolicy
from kiosk.policy.health import CertificateRules
from kiosk.policy.statuslist import StatusList


@dataclass(frozen=True, slots=True)
class Bearings:
    """The gate's own part of every decision, which no list changes: its clock, its passages so far (for
    anti-passback), its venue and its direction."""

    clock: Clock
    history: PassageHistory | None = None
    venue: str = ""
    direction: str = "in"
    gate: str = ""  # the device id, as the access list names gates
    claims: SingleUseClaims | None = None  # the venue's other gates and the centre, for single-use passes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The lists in force and what a decision reads from them (`verifier`, `policy`), made once."""

    trust: TrustStore
    status: StatusList
    settings: PolicyConfig
    bearings: Bearings
    access: AccessList = field(default_factory=AccessList)
    verifier: Verifier = field(init=False)
    policy: VenuePolicy = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verifier", Verifier(self.trust, self.bearings.clock))
        object.__setattr__(self, "policy", venue_policy(self))

    def with_lists(
        self,
        *,
        trust: TrustStore | None = None,
        status: StatusList | None = None,
        settings: PolicyConfig | None = None,
        access: AccessList | None = None,
    ) -> Snapshot:
        """A new snapshot with the lists given replaced, the others as they are."""
        return Snapshot(
            self.trust if trust is None else trust,
            self.status if status is None else status,
            self.settings if settings is None else settings,
            self.bearings,
            self.access if access is None else access,
        )


def venue_policy(snapshot: Snapshot) -> VenuePolicy:
    settings, trust, bearings = snapshot.settings, snapshot.trust, snapshot.bearings
    return VenuePolicy(
        mode=settings.mode,
        denylist=frozenset(settings.denylist),
        status=snapshot.status,
        rules=CertificateRules(settings.vaccination_wait_days, 2, settings.test_max_age_h, settings.recovery_max_days),
        trust_issued_at=trust.issued_at,
        trust_max_h=settings.trust_list_max_h,
        clock_synced=bearings.clock.synchronised,
        anti_passback_s=settings.anti_passback_s,
        history=bearings.history,
        venue=bearings.venue,
        direction=bearings.direction,
        access=snapshot.access,
        gate=bearings.gate,
        strangers=settings.strangers,
        claims=bearings.claims,
        single_use_offline=settings.single_use_offline,
    )
