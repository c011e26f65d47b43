"""Access passes the centre issues: staff badges, visitor passes and tickets, verified offline here.

    AC1: + base45( COSE_Sign1 (tag 18), protected {1: -8 (EdDSA), 4: kid}, payload = CBOR map )

    payload  1 subject key (bytes, 16): the holder's key (the one the kiosk derives from their CCCD), or for a
               bearer pass (a ticket) the pass id itself, so that the pass is the "person" the gate records
             2 valid from (integer, seconds since the epoch)
             4 valid until (integer, seconds since the epoch)
             5 pass id (bytes, 16): revoked by putting its hex on the status list
             6 issuer (text)
             7 type (text: "badge", "visitor" or "ticket")
             8 venue (text: the venue code the pass admits at)
             9 uses (integer 1: single use; absent: any number within validity)

The same envelope, signature and keys (`pass_keys`) as the declaration pass (`HD1:`, docs/pass-format.md), under
its own prefix so that a kiosk that knows only `HD1:` never takes a badge for a green declaration. No name, no ID
number. Specified in docs/pass-format.md; `issue_access_pass` is what the centre calls, `parse_access_pass` what
the kiosk calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk.credentials.base import Credential, Kind
from kiosk.credentials.base45 import b45encode
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.cose import sign1_eddsa
from kiosk.credentials.passes import epoch_time, open_signed
from kiosk.credentials.plain import plain_problem

PREFIX = "AC1:"
TYPES = ("badge", "visitor", "ticket")


@dataclass(frozen=True)
class AccessClaims:
    subject_key: str  # 32 hex
    valid_from: datetime
    valid_until: datetime
    pass_id: bytes  # 16
    issuer: str
    type: str
    venue: str
    single_use: bool = False


def issue_access_pass(claims: AccessClaims, key: Ed25519PrivateKey, kid: bytes) -> str:
    """The QR text of a signed access pass."""
    problem = _claims_problem(claims)
    if problem:
        raise ValueError(problem)
    payload = {
        1: bytes.fromhex(claims.subject_key),
        2: int(claims.valid_from.timestamp()),
        4: int(claims.valid_until.timestamp()),
        5: claims.pass_id,
        6: claims.issuer,
        7: claims.type,
        8: claims.venue,
    }
    if claims.single_use:
        payload[9] = 1
    return PREFIX + b45encode(sign1_eddsa(cbor2.dumps(payload), key, kid))


def _claims_problem(claims: AccessClaims) -> str | None:
    if len(claims.subject_key) != 32 or not all(c in "0123456789abcdef" for c in claims.subject_key):
        return "an access pass needs a subject key of 32 lower-case hex digits"
    if claims.type not in TYPES:
        return f"an access pass is a {', '.join(TYPES)}"
    if len(claims.pass_id) != 16 or not claims.venue or not claims.issuer:
        return "an access pass needs a 16-byte id, a venue and an issuer"
    if claims.valid_until <= claims.valid_from:
        return "an access pass must end after it starts"
    return None


def parse_access_pass(text: str, ctx: VerifyContext) -> Credential | None:
    """An access pass, verified against `ctx`; None if `text` is not one, CredentialError if unreadable."""
    if not text.startswith(PREFIX):
        return None
    claims, signature = open_signed(text[len(PREFIX) :], Kind.ACCESS_PASS, _claims, ctx)
    expiry = "not-yet-valid" if ctx.now < claims.valid_from else "expired" if ctx.now > claims.valid_until else "ok"
    return Credential(
        Kind.ACCESS_PASS,
        # A single-use pass is recorded under its own id: its uses are then counted exactly, at the kiosk and at the
        # centre, even for a holder who has several such passes; the centre knows whose pass it is.
        subject_key=claims.pass_id.hex() if claims.single_use else claims.subject_key,
        signature=signature,
        expiry=expiry,
        issuer=claims.issuer,
        expires_at=claims.valid_until,
        details={
            "type": claims.type,
            "venue": claims.venue,
            "single_use": claims.single_use,
            "pass_id": claims.pass_id.hex(),
            "holder": claims.subject_key,
            "valid_from": claims.valid_from.isoformat(),
            "valid_until": claims.valid_until.isoformat(),
        },
    )


def _claims(payload: object) -> AccessClaims:
    if not isinstance(payload, Mapping):
        raise ValueError("access pass payload is not a map")
    problem = plain_problem(payload)
    if problem is not None:
        raise ValueError(f"the access pass payload holds {problem}")
    subject, ident, issuer, kind, venue, uses = (payload.get(k) for k in (1, 5, 6, 7, 8, 9))
    if not (isinstance(subject, bytes) and len(subject) == 16 and isinstance(ident, bytes) and len(ident) == 16):
        raise ValueError("access pass subject key or id is not 16 bytes")
    if not (isinstance(kind, str) and kind in TYPES):
        raise ValueError("access pass type is not badge, visitor or ticket")
    if not (isinstance(issuer, str) and isinstance(venue, str) and venue and len(venue) <= 64):
        raise ValueError("access pass issuer or venue missing")
    if uses not in (None, 1) or isinstance(uses, bool):
        raise ValueError("access pass uses is not 1")
    valid_from, valid_until = epoch_time(payload.get(2), "access pass"), epoch_time(payload.get(4), "access pass")
    return AccessClaims(subject.hex(), valid_from, valid_until, ident, issuer, kind, venue, uses == 1)
