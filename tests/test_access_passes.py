"""Signed access passes (`AC1:`): badges, visitor passes and tickets the centre issues, verified offline."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiosk.credentials import Kind, read_credential
from kiosk.credentials.accesspass import AccessClaims, issue_access_pass
from kiosk.credentials.base45 import b45encode
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.cose import key_id, sign1_eddsa
from kiosk.credentials.trust import TrustStore
from kiosk.events import Event
from kiosk.ids import uuid7
from kiosk.policy import Outcome, VenuePolicy
from kiosk.policy.access import AccessList
from kiosk.policy.statuslist import StatusEntry, StatusList
from kiosk.store import EventStore

KEY = Ed25519PrivateKey.generate()
RAW = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KID = key_id(RAW)
START = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
NOW = START + timedelta(hours=2)
HOLDER = "0123456789abcdef0123456789abcdef"
PASS_ID = bytes.fromhex("fedcba9876543210fedcba9876543210")


def claims(**changes: object) -> AccessClaims:
    base = AccessClaims(HOLDER, START, START + timedelta(hours=10), PASS_ID, "VN-67", "badge", "FACTORY-1")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def trust() -> TrustStore:
    entry = {"kid": base64.b64encode(KID).decode(), "public_key": base64.b64encode(RAW).decode()}
    return TrustStore.from_json({"pass_keys": [entry]})


def read(text: str, at: datetime = NOW, store: TrustStore | None = None):
    return read_credential(text, VerifyContext(store or trust(), at))


def test_a_badge_round_trips_verifies_and_names_no_one() -> None:
    text = issue_access_pass(claims(), KEY, KID)
    assert text.startswith("AC1:") and len(text) < 260  # a version 9 QR code at level M
    credential = read(text)
    assert (credential.kind, credential.signature, credential.expiry, credential.subject_key) == (
        Kind.ACCESS_PASS,
        "valid",
        "ok",
        HOLDER,
    )
    assert credential.valid and credential.identity is None and credential.name is None
    assert credential.details["venue"] == "FACTORY-1" and credential.details["pass_id"] == PASS_ID.hex()


def test_a_declaration_only_kiosk_never_reads_a_badge_as_a_declaration_pass() -> None:
    text = issue_access_pass(claims(), KEY, KID)
    assert read(text).kind is not Kind.PASS and not text.startswith("HD1:")


def test_without_the_centres_key_the_pass_is_unverifiable() -> None:
    credential = read(issue_access_pass(claims(), KEY, KID), store=TrustStore())
    assert (credential.signature, credential.expiry, credential.valid) == ("unknown-key", "ok", False)


def test_a_forged_or_out_of_date_pass_is_not_valid() -> None:
    forger = Ed25519PrivateKey.generate()
    assert read(issue_access_pass(claims(), forger, KID)).signature == "invalid"
    assert read(issue_access_pass(claims(), KEY, KID), at=START - timedelta(minutes=1)).expiry == "not-yet-valid"
    assert read(issue_access_pass(claims(), KEY, KID), at=START + timedelta(hours=11)).expiry == "expired"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({b"1": b"x"}, "byte string"),  # a hostile payload: bytes keys
        ({1: bytes(16), 2: 0, 4: 1, 5: bytes(15), 6: "i", 7: "badge", 8: "V"}, "16 bytes"),
        ({1: bytes(16), 2: 0, 4: 1, 5: bytes(16), 6: "i", 7: "vip", 8: "V"}, "type"),
        ({1: bytes(16), 2: 0, 4: 1, 5: bytes(16), 6: "i", 7: "ticket", 8: ""}, "venue"),
        ({1: bytes(16), 2: 0, 4: 1, 5: bytes(16), 6: "i", 7: "ticket", 8: "V", 9: 2}, "uses"),
        ({1: bytes(16), 2: 0, 4: True, 5: bytes(16), 6: "i", 7: "ticket", 8: "V"}, "time"),
        ({1: bytes(16), 2: 0, 4: 2**70, 5: bytes(16), 6: "i", 7: "ticket", 8: "V"}, "64 bits"),
        ([1, 2, 3], "not a map"),
    ],
)
def test_a_malformed_pass_is_a_refusal_that_says_what(payload: object, detail: str) -> None:
    credential = read("AC1:" + b45encode(sign1_eddsa(cbor2.dumps(payload), KEY, KID)))
    assert (credential.kind, credential.problem) == (Kind.ACCESS_PASS, "malformed")
    assert detail in (credential.problem_detail or "")
    assert read("AC1:!!not base45").problem == "malformed"


def test_issuing_refuses_what_no_kiosk_could_read() -> None:
    for bad in (claims(type="vip"), claims(pass_id=b"short"), claims(subject_key="XYZ"), claims(valid_until=START)):
        with pytest.raises(ValueError):
            issue_access_pass(bad, KEY, KID)


# ---------------------------------------------------------------- the gate


@pytest.fixture
def store(tmp_path: Path):
    store = EventStore(tmp_path / "events.db")
    yield store
    store.close()


def policy(store: EventStore, *, direction: str = "in", mode: str = "access", status: StatusList | None = None):
    return VenuePolicy(
        mode=mode,
        venue="FACTORY-1",
        direction=direction,
        history=store,
        access=AccessList(),
        status=status or StatusList(),
    )


def passage(store: EventStore, decision: str, reason: str, subject: str, direction: str = "in") -> None:
    store.record(
        Event(
            event_id=str(uuid7()),
            boot_id="boot",
            seq=0,
            wall_time=NOW.timestamp(),
            mono_time=1.0,
            clock_synced=True,
            device_id="gate-1",
            venue="FACTORY-1",
            direction=direction,
            kind="access-pass",
            subject_key=subject,
            decision=decision,
            reason=reason,
            decoder="zxing",
            latency_ms=1.0,
        )
    )


@pytest.mark.parametrize(
    ("kind", "reason"), [("badge", "badge-ok"), ("visitor", "visitor-pass-ok"), ("ticket", "ticket-ok")]
)
def test_a_valid_pass_for_this_venue_admits_in_access_mode_with_nobody_enrolled(
    store: EventStore, kind: str, reason: str
) -> None:
    credential = read(issue_access_pass(claims(type=kind), KEY, KID))
    decision = policy(store).decide(credential, HOLDER, NOW)
    assert (decision.outcome, decision.reason) == (Outcome.ACCEPT, reason)


def test_a_pass_for_another_venue_or_revoked_is_refused(store: EventStore) -> None:
    other = read(issue_access_pass(claims(venue="HOSPITAL-2"), KEY, KID))
    assert policy(store).decide(other, HOLDER, NOW).reason == "wrong-venue"
    assert policy(store, mode="identity").decide(other, HOLDER, NOW).reason == "wrong-venue"
    revoked = StatusList({PASS_ID.hex(): StatusEntry("red")})
    badge = read(issue_access_pass(claims(), KEY, KID))
    assert policy(store, status=revoked).decide(badge, HOLDER, NOW).reason == "pass-revoked"
    holder_flagged = StatusList({HOLDER: StatusEntry("red")})
    assert policy(store, status=holder_flagged).decide(badge, HOLDER, NOW).reason == "status-red"


def test_a_single_use_ticket_lets_in_once_and_out_always(store: EventStore) -> None:
    ticket_key = PASS_ID.hex()  # a bearer ticket: the pass is the "person" the gate records
    ticket = read(issue_access_pass(claims(type="ticket", subject_key=ticket_key, single_use=True), KEY, KID))
    assert policy(store).decide(ticket, ticket_key, NOW).reason == "ticket-ok"
    passage(store, "DENY", "passback", ticket_key)  # a refusal is not a use
    assert policy(store).decide(ticket, ticket_key, NOW).reason == "ticket-ok"
    passage(store, "ACCEPT", "ticket-ok", ticket_key)
    assert policy(store).decide(ticket, ticket_key, NOW).reason == "pass-used"
    assert policy(store, direction="out").decide(ticket, ticket_key, NOW).reason == "ticket-ok"
    visitor = read(issue_access_pass(claims(type="visitor", single_use=True), KEY, KID))
    assert visitor.subject_key == ticket_key and visitor.details["holder"] == HOLDER  # counted by the pass's id
    flagged = StatusList({HOLDER: StatusEntry("yellow")})
    assert policy(store, direction="out", status=flagged).decide(visitor, ticket_key, NOW).reason == "status-yellow"
    badge = read(issue_access_pass(claims(), KEY, KID))  # not single use: any number of times
    passage(store, "ACCEPT", "badge-ok", HOLDER)
    assert policy(store).decide(badge, HOLDER, NOW).reason == "badge-ok"
