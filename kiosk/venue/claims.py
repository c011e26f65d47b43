"""Claiming the first entry on a single-use pass across the venue's gates (docs/venue-state.md): the centre's
answer is final; without it, every other gate must say "not used"; without them all, the gate cannot know."""

from __future__ import annotations

import logging

from kiosk.sync.client import CentralClient, Refused, Retryable, Revoked
from kiosk.venue.discovery import Directory
from kiosk.venue.peerclient import PeerClient

log = logging.getLogger(__name__)


class VenueClaims:
    """The policy's `SingleUseClaims` (kiosk.policy.decide): called in the frame loop, so each step is bounded by
    `timeout_s` (the centre's, then the peers' at once): at most twice that for the person at the gate."""

    def __init__(self, centre: CentralClient | None, peers: PeerClient, directory: Directory, timeout_s: float) -> None:
        self.centre, self.peers, self.directory, self.timeout_s = centre, peers, directory, timeout_s

    def claim(self, subject_key: str) -> str:
        if self.centre is not None:
            try:
                first, holder = self.centre.claim(subject_key, self.timeout_s)
            except (Retryable, Refused, Revoked) as exc:
                log.info("single-use claim: the centre did not answer (%s); asking the venue's gates", exc)
            else:
                if not first:
                    log.info("single-use pass already let in at gate %s", holder)
                return "first" if first else "used"
        return self.peers.claim(self.directory.addresses(), subject_key, self.timeout_s)
