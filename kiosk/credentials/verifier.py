"""From a code's text to a verified credential, at the kiosk's best knowledge of the time.

A Pi without a real-time clock may boot at 1970 and run for minutes before NTP corrects it. Certificates are
judged at max(wall clock, the trust list's issue time): a kiosk holding a list issued on 26 November knows it
is at least 26 November, so a clock stuck in the past cannot make an expired certificate look valid.
"""

from __future__ import annotations

from datetime import UTC, datetime

from kiosk.clock import Clock
from kiosk.credentials import Credential, read_credential
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.shc import ShcAssembler
from kiosk.credentials.trust import TrustStore


class Verifier:
    """Reads codes against the trust list; keeps the parts of SMART Health Cards split over several QR codes."""

    def __init__(self, trust: TrustStore, clock: Clock) -> None:
        self.trust = trust
        self.clock = clock
        self.chunks = ShcAssembler()

    def now(self) -> datetime:
        wall = datetime.fromtimestamp(self.clock.wall(), UTC)
        floor = self.trust.issued_at
        return max(wall, floor) if floor is not None else wall

    def read(self, text: str, now: datetime) -> Credential:
        """The credential in `text`; a part of a multi-part card is kept, and the card read once complete."""
        whole = self.chunks.add(text, self.clock.monotonic())
        return read_credential(whole or text, VerifyContext(self.trust, now))
