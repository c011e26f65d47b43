from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kiosk.credentials import Credential, Identity, Kind
from kiosk.credentials.base import Health
from kiosk.policy import Outcome, VenuePolicy
from kiosk.policy.health import CertificateRules
from kiosk.policy.statuslist import StatusList, StatusListError

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
KEY = "0123456789abcdef0123456789abcdef"
VACCINATED = Health("vaccination", NOW - timedelta(days=60), doses=2, doses_required=2)

CCCD = Credential(Kind.CCCD, Identity("VN-ID", "001090012345"))
PCCOVID = Credential(Kind.PC_COVID, Identity("VN-ID", "001090012345"))
DCC = Credential(Kind.EU_DCC, Identity("DCC-NAME", "X"), signature="valid", expiry="ok", health=(VACCINATED,))
PASS_GREEN = Credential(
    Kind.PASS, subject_key=KEY, signature="valid", expiry="ok", health=(Health("declaration", NOW, status="green"),)
)
UNKNOWN = Credential(Kind.UNKNOWN)
MALFORMED = Credential(Kind.CCCD, problem="malformed")


def policy(mode: str, **kwargs: object) -> VenuePolicy:
    defaults: dict[str, object] = {"trust_issued_at": NOW - timedelta(hours=1), "trust_max_h": 168}
    return VenuePolicy(mode=mode, **{**defaults, **kwargs})  # type: ignore[arg-type]


def decide(mode: str, credential: Credential, key: str | None = KEY, **kwargs: object) -> tuple[str, str]:
    decision = policy(mode, **kwargs).decide(credential, key, NOW)
    return decision.outcome.value, decision.reason


# mode x kind -> decision, nothing on any list
TABLE = [
    ("log-only", CCCD, ("ACCEPT", "logged")),
    ("log-only", UNKNOWN, ("ACCEPT", "logged")),
    ("log-only", MALFORMED, ("ACCEPT", "logged-malformed")),
    ("log-only", replace(DCC, signature="invalid"), ("ACCEPT", "logged")),
    ("identity", CCCD, ("ACCEPT", "identity-ok")),
    ("identity", PCCOVID, ("ACCEPT", "identity-ok")),
    ("identity", DCC, ("ACCEPT", "identity-ok")),
    ("identity", PASS_GREEN, ("ACCEPT", "identity-ok")),
    ("identity", UNKNOWN, ("DENY", "unknown-code")),
    ("identity", MALFORMED, ("DENY", "malformed")),
    ("identity", replace(DCC, signature="invalid"), ("DENY", "signature-invalid")),
    ("identity", replace(DCC, signature="unknown-key"), ("DENY", "unknown-signer")),
    ("certificate", DCC, ("ACCEPT", "certificate-ok")),
    ("certificate", CCCD, ("DENY", "certificate-required")),
    ("certificate", PASS_GREEN, ("DENY", "certificate-required")),
    ("certificate", replace(DCC, expiry="expired"), ("DENY", "expired")),
    ("certificate", replace(DCC, reasons=("key-usage",)), ("DENY", "key-usage")),
    ("certificate", UNKNOWN, ("DENY", "unknown-code")),
    ("pass", PASS_GREEN, ("ACCEPT", "pass-ok")),
    ("pass", CCCD, ("DENY", "declaration-required")),
    ("pass", DCC, ("DENY", "declaration-required")),
    ("pass", replace(PASS_GREEN, expiry="expired"), ("DENY", "expired")),
    ("pass", replace(PASS_GREEN, signature="invalid"), ("DENY", "signature-invalid")),
]


@pytest.mark.parametrize(("mode", "credential", "expected"), TABLE)
def test_mode_and_kind(mode: str, credential: Credential, expected: tuple[str, str]):
    assert decide(mode, credential) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [("green", ("ACCEPT", "pass-ok")), ("yellow", ("REVIEW", "pass-yellow")), ("red", ("DENY", "pass-red"))],
)
def test_pass_status(status: str, expected: tuple[str, str]):
    credential = replace(PASS_GREEN, health=(Health("declaration", NOW, status=status),))
    assert decide("pass", credential) == expected


STATUS = StatusList.from_json(
    {
        "entries": [
            {"subject_key": "a" * 32, "status": "red", "until": (NOW + timedelta(days=7)).isoformat()},
            {"subject_key": "b" * 32, "status": "yellow"},
            {"subject_key": "c" * 32, "status": "red", "until": (NOW - timedelta(hours=1)).isoformat()},
        ]
    }
)


@pytest.mark.parametrize("mode", ["identity", "certificate", "pass"])
@pytest.mark.parametrize(
    ("key", "outcome"), [("a" * 32, ("DENY", "status-red")), ("b" * 32, ("REVIEW", "status-yellow"))]
)
def test_status_list_overrides_a_good_credential_in_every_verifying_mode(mode, key, outcome):
    credential = {"identity": CCCD, "certificate": DCC, "pass": replace(PASS_GREEN, subject_key=key)}[mode]
    assert decide(mode, credential, key, status=STATUS) == outcome


def test_an_expired_status_entry_no_longer_applies():
    assert decide("identity", CCCD, "c" * 32, status=STATUS) == ("ACCEPT", "identity-ok")


def test_log_only_ignores_the_status_list_but_not_the_denylist():
    assert decide("log-only", CCCD, "a" * 32, status=STATUS) == ("ACCEPT", "logged")
    for mode in ("log-only", "identity", "certificate", "pass"):
        assert decide(mode, CCCD, KEY, denylist=frozenset({KEY})) == ("DENY", "denylisted")


def test_identity_code_without_a_key_goes_to_the_guard():
    assert decide("identity", CCCD, None) == ("REVIEW", "no-identity")


def test_stale_trust_list_refuses_signed_credentials_only():
    stale = {"trust_issued_at": NOW - timedelta(hours=200)}
    assert decide("certificate", DCC, **stale) == ("DENY", "trust-list-stale")
    assert decide("identity", CCCD, **stale) == ("ACCEPT", "identity-ok")
    assert decide("certificate", DCC, trust_issued_at=None) == ("DENY", "trust-list-stale")
    assert decide("certificate", DCC, trust_issued_at=None, trust_max_h=0) == ("ACCEPT", "certificate-ok")


def test_not_yet_valid_with_an_unsynchronised_clock_goes_to_the_guard():
    early = replace(DCC, expiry="not-yet-valid")
    assert decide("certificate", early) == ("DENY", "not-yet-valid")
    assert decide("certificate", early, clock_synced=lambda: False) == ("REVIEW", "clock-unsynchronised")


class History:
    def __init__(self, last: tuple[str, float] | None) -> None:
        self.last = last

    def last_accepted(self, subject_key: str, venue: str) -> tuple[str, float] | None:
        return self.last

    def entered(self, subject_key: str, venue: str) -> bool:
        return self.last is not None and self.last[0] == "in"


def test_anti_passback():
    minute_ago = (NOW - timedelta(minutes=1)).timestamp()
    on = {"anti_passback_s": 3600.0, "venue": "V", "direction": "in"}
    assert decide("identity", CCCD, history=History(("in", minute_ago)), **on) == ("DENY", "passback")
    assert decide("identity", CCCD, history=History(("out", minute_ago)), **on) == ("ACCEPT", "identity-ok")
    two_hours_ago = (NOW - timedelta(hours=2)).timestamp()
    assert decide("identity", CCCD, history=History(("in", two_hours_ago)), **on) == ("ACCEPT", "identity-ok")
    assert decide("identity", CCCD, history=History(("in", minute_ago))) == ("ACCEPT", "identity-ok")  # off


def recovered(positive: int, valid_from: int, valid_until: int) -> Health:
    """A recovery entry with dates in days before NOW (negative: after)."""
    days = [NOW - timedelta(days=d) for d in (positive, valid_from, valid_until)]
    return Health("recovery", days[0], valid_from=days[1], valid_until=days[2])


RULES = CertificateRules(vaccination_wait_days=14, test_max_age_h=72, recovery_max_days=180)


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (Health("vaccination", NOW - timedelta(days=60), 2, 2), "certificate-ok"),
        (Health("vaccination", NOW - timedelta(days=60), 3, 2), "certificate-ok"),  # booster
        (Health("vaccination", NOW - timedelta(days=60), 1, 2), "vaccination-incomplete"),
        (Health("vaccination", NOW - timedelta(days=3), 2, 2), "vaccination-too-recent"),
        (Health("vaccination", NOW - timedelta(days=60), 2, None), "certificate-ok"),  # SHC: no series size
        (Health("vaccination", NOW - timedelta(days=60), 1, None), "vaccination-incomplete"),
        (Health("test", NOW - timedelta(hours=20), negative=True), "certificate-ok"),
        (Health("test", NOW - timedelta(hours=80), negative=True), "test-too-old"),
        (Health("test", NOW - timedelta(hours=2), negative=False), "test-positive"),
        (recovered(30, 19, -150), "certificate-ok"),
        (recovered(300, 289, 120), "recovery-expired"),
        (Health("recovery", NOW - timedelta(days=30)), "certificate-ok"),
        (Health("recovery", NOW - timedelta(days=200)), "recovery-expired"),
    ],
)  # fmt: skip
def test_certificate_rules(health: Health, expected: str):
    outcome = decide("certificate", replace(DCC, health=(health,)), rules=RULES)
    assert outcome[1] == expected and (outcome[0] == "ACCEPT") == (expected == "certificate-ok")


def test_every_reason_has_a_message_in_both_languages():
    from kiosk.policy import Decision
    from kiosk.policy.messages import MESSAGES

    reasons = {expected[1] for _, _, expected in TABLE} | {"status-red", "status-yellow", "passback", "pass-red"}
    for reason in reasons:
        assert reason in MESSAGES
        decision = Decision(Outcome.DENY, reason)
        assert decision.message("vi") and decision.message("en") and decision.message("vi") != decision.message("en")
    assert Decision(Outcome.ACCEPT, "pass-ok").message() == "Mời vào"


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"entries": [{"subject_key": "xyz", "status": "red"}]},
        {"entries": [{"subject_key": "a" * 32, "status": "purple"}]},
        {"entries": [{"subject_key": "a" * 32, "status": "red", "until": "tomorrow"}]},
    ],
)
def test_a_broken_status_list_is_refused_with_the_entry_named(data: object):
    with pytest.raises(StatusListError):
        StatusList.from_json(data)
