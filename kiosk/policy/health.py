"""A venue's rules for health certificates: what counts as vaccinated, tested or recovered, and for how long."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kiosk.credentials.base import Health


@dataclass(frozen=True)
class CertificateRules:
    vaccination_wait_days: float = 14  # full protection counted from this long after the last dose
    min_doses_without_series: int = 2  # cards that do not say how many doses the series has (SMART Health Cards)
    test_max_age_h: float = 72  # a negative test counts this long after the sample
    recovery_max_days: float = 180  # recovery counts this long after the first positive test, if not dated


def judge_health(health: Iterable[Health], rules: CertificateRules, now: datetime) -> str | None:
    """None if any entry satisfies the rules, else the reason code of the closest miss."""
    failures = []
    for entry in health:
        failure = _judge(entry, rules, now)
        if failure is None:
            return None
        failures.append(failure)
    return failures[0] if failures else "certificate-required"


def _judge(entry: Health, rules: CertificateRules, now: datetime) -> str | None:
    if entry.kind == "vaccination":
        return _vaccination(entry, rules, now)
    if entry.kind == "test":
        if not entry.negative:
            return "test-positive"
        if entry.date is None or now - entry.date > timedelta(hours=rules.test_max_age_h):
            return "test-too-old"
        return None
    if entry.kind == "recovery":
        start = entry.valid_from or entry.date
        end = entry.valid_until or (entry.date + timedelta(days=rules.recovery_max_days) if entry.date else None)
        return None if start and end and start <= now <= end else "recovery-expired"
    return "certificate-required"


def _vaccination(entry: Health, rules: CertificateRules, now: datetime) -> str | None:
    required = entry.doses_required or rules.min_doses_without_series
    if entry.doses is None or entry.doses < required:
        return "vaccination-incomplete"
    if entry.date is None or now - entry.date < timedelta(days=rules.vaccination_wait_days):
        return "vaccination-too-recent"
    return None
