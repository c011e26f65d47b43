"""What a signed-credential parser needs besides the text: the trusted keys and the time to verify at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from kiosk.credentials.trust import TrustStore


@dataclass(frozen=True)
class VerifyContext:
    trust: TrustStore = field(default_factory=TrustStore)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
