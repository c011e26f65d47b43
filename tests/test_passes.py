from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from conftest import timed
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.credentials import Credential, Kind, read_credential
from kiosk.credentials.base import CredentialError
from kiosk.credentials.base45 import b45decode, b45encode
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.cose import key_id
from kiosk.credentials.passes import PassClaims, issue_pass, parse_pass
from kiosk.credentials.trust import TrustStore

DECLARED = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
RAW_PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
KID = key_id(RAW_PUBLIC)
SUBJECT = "0123456789abcdef0123456789abcdef"


def claims(status: str = "green", hours: int = 24) -> PassClaims:
    return PassClaims(SUBJECT, DECLARED, status, DECLARED + timedelta(hours=hours), b"decl-0001", "VN-67")


def trust() -> TrustStore:
    return TrustStore.from_json(
        {"pass_keys": [{"kid": base64.b64encode(KID).decode(), "public_key": base64.b64encode(RAW_PUBLIC).decode()}]}
    )


def test_a_pass_round_trips_and_verifies():
    text = issue_pass(claims(), KEY, KID)
    assert text.startswith("HD1:") and len(text) <= 220  # a version 9 QR code at level M holds 261
    credential = read_credential(text, VerifyContext(trust(), DECLARED + timedelta(hours=1)))
    assert (credential.kind, credential.signature, credential.expiry, credential.subject_key) == (
        Kind.PASS, "valid", "ok", SUBJECT
    )  # fmt: skip
    assert credential.valid and credential.health[0].status == "green" and credential.identity is None


@pytest.mark.parametrize(
    ("at", "expiry"),
    [(DECLARED - timedelta(minutes=1), "not-yet-valid"), (DECLARED + timedelta(hours=25), "expired")],
)
def test_pass_validity_window(at: datetime, expiry: str):
    assert parse_pass(issue_pass(claims(), KEY, KID), VerifyContext(trust(), at)).expiry == expiry


def test_a_pass_signed_by_another_key_or_tampered_is_refused():
    other = Ed25519PrivateKey.generate()
    at = DECLARED + timedelta(hours=1)
    assert parse_pass(issue_pass(claims(), other, KID), VerifyContext(trust(), at)).signature == "invalid"
    assert parse_pass(issue_pass(claims(), KEY, b"otherkid"), VerifyContext(trust(), at)).signature == "unknown-key"
    raw = bytearray(b45decode(issue_pass(claims("red"), KEY, KID)[4:]))
    at_status = raw.index(b"red")
    raw[at_status : at_status + 3] = b"Red"  # any change to the signed payload
    with pytest.raises(CredentialError):  # "Red" is not a status: refused before the signature matters
        parse_pass("HD1:" + b45encode(bytes(raw)), VerifyContext(trust(), at))
    raw[at_status : at_status + 3] = b"red"
    raw[-1] ^= 1  # the signature itself
    assert parse_pass("HD1:" + b45encode(bytes(raw)), VerifyContext(trust(), at)).signature == "invalid"


def test_issuing_refuses_what_a_kiosk_could_not_read():
    with pytest.raises(ValueError):
        issue_pass(PassClaims("not a key", DECLARED, "green", DECLARED, b"x", "VN"), KEY, KID)
    with pytest.raises(ValueError):
        issue_pass(PassClaims(SUBJECT, DECLARED, "purple", DECLARED, b"x", "VN"), KEY, KID)


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(b45encode))
def test_anything_after_the_prefix_gives_a_pass_or_the_typed_error(body: str):
    outcome, seconds = timed(lambda: parse_pass("HD1:" + body, VerifyContext()))
    assert isinstance(outcome, CredentialError | Credential) and seconds < 0.05
