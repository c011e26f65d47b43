"""What `kiosk verify` says about a credential: the verdict, each check, whose it is (the subject key the gate
would record, ID numbers masked) and what a gate would decide; as JSON, or as a few sentences for a technician."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from secrets import token_bytes
from typing import Any

from kiosk.credentials import Credential, Kind, SubjectKeyer
from kiosk.policy import CERTIFICATES, VenuePolicy
from kiosk.secrets import SecretError, load_secret

KIND_NAMES = {
    "cccd": "CCCD code",
    "pc-covid": "PC-Covid code",
    "eu-dcc": "EU Digital COVID Certificate",
    "shc": "SMART Health Card",
    "vds-nc": "ICAO VDS-NC seal",
    "pass": "Health-declaration pass",
    "access-pass": "Access pass",
    "unknown": "Unknown code",
}
_SIGNATURE = {
    "invalid": "the signature does not match",
    "unknown-key": "signed with a key that is not in the trust list",
}
_EXPIRY = {"expired": "expired", "not-yet-valid": "not valid yet"}
_REASONS = {
    "unknown-format": "not a kind of code this kiosk reads",
    "no-code-in-image": "no QR code found in the picture",
    "partial": "one part of a code split over several QR codes",
    "signer-certificate-expired": "the signing certificate is outside its validity",
    "key-usage": "the signing certificate may not sign this type of certificate",
    "no-entries": "it holds no vaccination, test or recovery",
}
_DOCUMENTS = {
    "VN-ID": "ID number",
    "VN-CMND": "old ID number (CMND)",
    "PCCOVID-QID": "PC-Covid QID",
    "DOC": "document number",
}
_KEY_SOURCES = {
    "kiosk-secret": "made with this kiosk's secret",
    "throwaway-secret": "made with a throwaway secret: it matches no gate's keys",
    "code": "carried by the code",
}
UNSIGNED = frozenset({Kind.CCCD, Kind.PC_COVID})
UNSIGNED_WARNING = (
    "this kind of code carries no signature: anyone can make one for any name and number, so it does not prove"
    " who shows it; a gate that must know who passes admits enrolled people (access mode) or signed passes"
)
_OUTCOMES = {"ACCEPT": "accept it", "DENY": "refuse it", "REVIEW": "call the guard to check it"}


@dataclass(frozen=True)
class SubjectKeying:
    """How verify turns an identity into a subject key: with the kiosk's secret, as its gate does, or with a
    throwaway one (and `note` says why) when this is not the kiosk or its secret cannot be read."""

    keyer: SubjectKeyer
    source: str  # "kiosk-secret" or "throwaway-secret"
    note: str | None = None


def kiosk_keying(path: Path) -> SubjectKeying:
    """The kiosk's secret in `path` if it is there and usable; never made here (the kiosk makes it at start)."""
    try:
        secret = load_secret(path)
        why = f"no subject-key secret at {path}"
    except SecretError as exc:
        secret, why = None, str(exc)
    if secret is not None:
        return SubjectKeying(SubjectKeyer(secret), "kiosk-secret")
    note = (
        f"{why}; the subject key was made with a throwaway secret and matches no gate's: give the kiosk's"
        " --config or --state-dir (and run as its user) to use its secret"
    )
    return SubjectKeying(SubjectKeyer(token_bytes(32)), "throwaway-secret", note)


def verification_report(
    credential: Credential, keying: SubjectKeying, mode: str | None, now: datetime
) -> dict[str, Any]:
    """The report `kiosk verify --json` prints: every value in it is JSON data, whatever the code held."""
    reasons = list(credential.reasons)
    if credential.problem:
        reasons.insert(0, credential.problem)
    if credential.kind is Kind.UNKNOWN:
        reasons.insert(0, "unknown-format")
    subject_key = keying.keyer.key_of(credential)
    derived = subject_key is not None and credential.subject_key is None
    return {
        "kind": credential.kind.value,
        "valid": credential.valid,
        "checks": {
            "decode": "ok" if credential.decoded else "failed",
            "signature": credential.signature,
            "expiry": credential.expiry,
        },
        "reasons": reasons,
        "problem": credential.problem_detail,
        "subject": _subject(credential, subject_key, keying.source if derived else "code"),
        "details": dict(credential.details),
        "decision": gate_decision(credential, subject_key, mode, now),
        "notes": [keying.note] if derived and keying.note else [],
        "warnings": [UNSIGNED_WARNING] if credential.kind in UNSIGNED and credential.decoded else [],
    }


def _subject(credential: Credential, subject_key: str | None, source: str) -> dict[str, Any]:
    subject: dict[str, Any] = {}
    if credential.name:
        subject["name"] = credential.name
    if credential.birth_date:
        subject["birth_date"] = credential.birth_date
    if credential.identity is not None and credential.identity.doc_type != "DCC-NAME":  # DCC: name and birth date
        subject["document"] = credential.identity.doc_type
        subject["number"] = mask(credential.identity.number)
    if subject_key is not None:
        subject["subject_key"] = subject_key
        subject["subject_key_source"] = source
    if credential.issuer:
        subject["issuer"] = credential.issuer
    return subject


def mask(number: str) -> str:
    """All but the last four characters hidden: enough to tell two people apart, not to copy an ID number."""
    return "*" * max(0, len(number) - 4) + number[-4:]


def gate_decision(credential: Credential, subject_key: str | None, mode: str | None, now: datetime) -> dict[str, str]:
    """What a gate in `mode` would decide on this code alone (no status list, no passage history); by default
    the mode that checks this kind of code: a pass at a pass gate, a certificate at a certificate gate."""
    if mode is None:
        checked = {Kind.PASS: "pass", Kind.ACCESS_PASS: "access"} | dict.fromkeys(CERTIFICATES, "certificate")
        mode = checked.get(credential.kind, "identity")
    decision = VenuePolicy(mode=mode).decide(credential, subject_key, now)
    return {"mode": mode, "outcome": decision.outcome.value, "reason": decision.reason}


# ---------------------------------------------------------------- the same, in sentences


def report_text(report: dict[str, Any]) -> str:
    """The report as a few sentences; anything from the code that a terminal would act on is escaped."""
    lines = [f"{KIND_NAMES.get(report['kind'], report['kind'])}: {_verdict(report)}."]
    subject = report["subject"]
    holder = _holder(subject)
    if holder:
        lines.append(f"Holder: {holder}.")
    if subject.get("issuer"):
        lines.append(f"Issued by {subject['issuer']}.")
    if subject.get("subject_key"):
        lines.append(f"Subject key: {subject['subject_key']} ({_KEY_SOURCES[subject['subject_key_source']]}).")
    lines += [f"Warning: {warning}." for warning in report["warnings"]]
    lines += [f"Note: {note}." for note in report["notes"]]
    gate = report["decision"]
    lines.append(f"A gate in {gate['mode']} mode would {_OUTCOMES[gate['outcome']]} ({gate['reason']}).")
    return "\n".join(printable(line) for line in lines)


def _verdict(report: dict[str, Any]) -> str:
    checks = report["checks"]
    if report["valid"]:
        said = [
            "unsigned, so it can be forged" if checks["signature"] == "none" else "signature valid",
            "within its validity period" if checks["expiry"] == "ok" else "",
        ]
        return f"valid ({', '.join(s for s in said if s)})"
    problems = [_SIGNATURE.get(checks["signature"], ""), _EXPIRY.get(checks["expiry"], "")]
    for reason in report["reasons"]:
        said = _REASONS.get(reason, reason)
        problems.append(f"{said} ({report['problem']})" if reason == "malformed" and report["problem"] else said)
    return "not valid: " + "; ".join(p for p in problems if p) if any(problems) else "not valid"


def _holder(subject: dict[str, Any]) -> str:
    parts = [subject.get("name") or ""]
    if subject.get("birth_date"):
        parts.append(f"born {subject['birth_date']}")
    if subject.get("number"):
        document = subject["document"]
        if document.startswith("PASSPORT:"):
            document = f"passport number ({document.removeprefix('PASSPORT:')})"
        parts.append(f"{_DOCUMENTS.get(document, document)} {subject['number']}")
    return ", ".join(p for p in parts if p)


def printable(text: str) -> str:
    """`text` with control and formatting characters (escape sequences, bidi overrides) written as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
