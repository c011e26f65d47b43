"""What `kiosk verify` prints about a credential: the verdict, each check, and whose it is (ID numbers masked)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kiosk.credentials import Credential, Kind
from kiosk.policy import CERTIFICATES, VenuePolicy


def verification_report(credential: Credential) -> dict[str, Any]:
    reasons = list(credential.reasons)
    if credential.problem:
        reasons.insert(0, credential.problem)
    if credential.kind is Kind.UNKNOWN:
        reasons.insert(0, "unknown-format")
    return {
        "kind": credential.kind.value,
        "valid": credential.valid,
        "checks": {
            "decode": "ok" if credential.decoded else "failed",
            "signature": credential.signature,
            "expiry": credential.expiry,
        },
        "reasons": reasons,
        "subject": _subject(credential),
        "details": dict(credential.details),
    }


def _subject(credential: Credential) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    if credential.name:
        subject["name"] = credential.name
    if credential.birth_date:
        subject["birth_date"] = credential.birth_date
    if credential.identity is not None and credential.identity.doc_type != "DCC-NAME":  # DCC: name and birth date
        subject["document"] = credential.identity.doc_type
        subject["number"] = mask(credential.identity.number)
    if credential.subject_key:
        subject["subject_key"] = credential.subject_key
    if credential.issuer:
        subject["issuer"] = credential.issuer
    return subject


def mask(number: str) -> str:
    """All but the last four characters hidden: enough to tell two people apart, not to copy an ID number."""
    return "*" * max(0, len(number) - 4) + number[-4:]


def gate_decision(credential: Credential, mode: str | None, now: datetime) -> dict[str, str]:
    """What a gate in `mode` would decide on this code alone (no status list, no passage history); by default
    the mode that checks this kind of code: a pass at a pass gate, a certificate at a certificate gate."""
    if mode is None:
        checked = {Kind.PASS: "pass"} | dict.fromkeys(CERTIFICATES, "certificate")
        mode = checked.get(credential.kind, "identity")
    decision = VenuePolicy(mode=mode).decide(credential, credential.subject_key, now)
    return {"mode": mode, "outcome": decision.outcome.value, "reason": decision.reason}
