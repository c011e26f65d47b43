"""The project's own health-declaration pass, issued by the central server, verified offline here.

    HD1: + base45( COSE_Sign1 (tag 18), protected {1: -8 (EdDSA), 4: kid}, payload = CBOR map )

    payload  1 subject key (bytes, 16: the key the kiosk derives from the holder's ID, shown as 32 hex)
             2 declared at (integer, seconds since the epoch)
             3 status (text: "green", "yellow" or "red")
             4 expires at (integer, seconds since the epoch)
             5 declaration id (bytes, 8 to 16)
             6 issuer (text: the central server's name for itself, e.g. "VN-67" for Đắk Nông)

No name, no ID number: a lost phone shows nothing about its owner but a status. Specified in
docs/pass-format.md; `issue_pass` is what the central server calls, `parse_pass` what the kiosk calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.credentials.base import Credential, CredentialError, Health, Kind
from kiosk.credentials.base45 import b45decode, b45encode
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.cose import EDDSA, CoseError, loads_cbor, parse_sign1, sign1_eddsa
from kiosk.credentials.plain import plain_problem

T = TypeVar("T")
PREFIX = "HD1:"
STATUSES = ("green", "yellow", "red")
_KEY = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class PassClaims:
    subject_key: str
    declared_at: datetime
    status: str
    expires_at: datetime
    declaration_id: bytes
    issuer: str


def issue_pass(claims: PassClaims, key: Ed25519PrivateKey, kid: bytes) -> str:
    """The QR text of a signed pass."""
    if claims.status not in STATUSES or not _KEY.fullmatch(claims.subject_key):
        raise ValueError("a pass needs a subject key of 32 hex digits and a status green, yellow or red")
    payload = cbor2.dumps(
        {
            1: bytes.fromhex(claims.subject_key),
            2: int(claims.declared_at.timestamp()),
            3: claims.status,
            4: int(claims.expires_at.timestamp()),
            5: claims.declaration_id,
            6: claims.issuer,
        }
    )
    return PREFIX + b45encode(sign1_eddsa(payload, key, kid))


def parse_pass(text: str, ctx: VerifyContext) -> Credential | None:
    """A declaration pass, verified against `ctx`; None if `text` is not one, CredentialError if unreadable."""
    if not text.startswith(PREFIX):
        return None
    claims, signature = open_signed(text[len(PREFIX) :], Kind.PASS, _claims, ctx)
    expiry = "not-yet-valid" if ctx.now < claims.declared_at else "expired" if ctx.now > claims.expires_at else "ok"
    return Credential(
        Kind.PASS,
        subject_key=claims.subject_key,
        signature=signature,
        expiry=expiry,
        issuer=claims.issuer,
        expires_at=claims.expires_at,
        health=(Health("declaration", claims.declared_at, status=claims.status),),
        details={"status": claims.status, "issuer": claims.issuer, "expires_at": claims.expires_at.isoformat()},
    )


def open_signed(body: str, kind: Kind, read: Callable[[object], T], ctx: VerifyContext) -> tuple[T, str]:
    """The claims `read` makes of a pass's signed payload (base45 of a COSE_Sign1 by a key of `pass_keys`), and the
    signature's state: "valid", "invalid" or "unknown-key". CredentialError (malformed) if it does not read."""
    try:
        sign1 = parse_sign1(b45decode(body))
        claims = read(loads_cbor(sign1.payload))
    except (ValueError, CoseError) as exc:
        raise CredentialError(kind, "malformed", str(exc)) from None
    key = ctx.trust.pass_keys.get(sign1.kid) if sign1.kid else None
    signature = "unknown-key" if key is None else "valid" if sign1.alg == EDDSA and sign1.verify(key) else "invalid"
    return claims, signature


def _claims(payload: object) -> PassClaims:
    if not isinstance(payload, Mapping):
        raise ValueError("pass payload is not a map")
    problem = plain_problem(payload)
    if problem is not None:
        raise ValueError(f"the pass payload holds {problem}")
    subject, status, issuer, ident = payload.get(1), payload.get(3), payload.get(6), payload.get(5)
    if not (isinstance(subject, bytes) and len(subject) == 16):
        raise ValueError("pass subject key is not 16 bytes")
    if status not in STATUSES or not isinstance(status, str):
        raise ValueError("pass status is not green, yellow or red")
    if not isinstance(issuer, str) or not isinstance(ident, bytes):
        raise ValueError("pass issuer or declaration id missing")
    return PassClaims(subject.hex(), epoch_time(payload.get(2)), status, epoch_time(payload.get(4)), ident, issuer)


def epoch_time(value: object, what: str = "pass") -> datetime:
    """A payload's time (integer seconds since the epoch) as an aware datetime; ValueError saying what is wrong."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} time is not an integer")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{what} time out of range") from None
