"""EU Digital COVID Certificate, `HC1:` (also Vietnam's vaccine passport, Decision 5772/QĐ-BYT, PS256).

HC1: + base45 -> zlib -> COSE_Sign1 -> CWT {1 issuer, 4 expiry, 6 issued-at, -260 {1: the certificate}}.
Schema versions 1.0.0 to 1.3.x; a certificate holds one vaccination (v), test (t) or recovery (r) entry.
The certificate carries no ID number: the holder is identified by transliterated name and birth date.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kiosk.credentials.base import Credential, CredentialError, Health, Identity, Kind
from kiosk.credentials.base45 import b45decode
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.cose import MAX_CBOR, CoseError, Sign1, loads_cbor, parse_sign1
from kiosk.credentials.plain import plain_problem
from kiosk.credentials.trust import DCC_USAGE, SignerKey
from kiosk.isotime import parse_iso

PREFIX = "HC1:"
SKEW = timedelta(minutes=5)  # a Pi's clock and an issuer's clock may differ this much
_TYPES = {"v": "vaccination", "t": "test", "r": "recovery"}
_NOT_DETECTED = "260415000"  # SNOMED CT: test result "not detected"


def parse_hc1(text: str, ctx: VerifyContext) -> Credential | None:
    """An EU DCC credential, verified against `ctx`; None if `text` is not HC1, CredentialError if unreadable."""
    if not text.startswith(PREFIX):
        return None
    sign1, claims = _decode(text[len(PREFIX) :])
    dcc = _certificate(claims)
    entries = [(key, e) for key in _TYPES for e in _list(dcc.get(key)) if isinstance(e, Mapping)]
    signer, signature = _signature(sign1, ctx)
    reasons = _signer_reasons(signer, entries, ctx.now) if signer else []
    if not entries:
        reasons.append("no-entries")
    exp = _epoch(claims.get(4))
    return Credential(
        Kind.EU_DCC,
        _identity(dcc),
        name=_name(dcc),
        birth_date=_text(dcc.get("dob")),
        signature=signature,
        expiry=_expiry(_epoch(claims.get(6)), exp, ctx.now),
        issuer=_text(claims.get(1)),
        expires_at=exp,
        health=tuple(_health(key, entry) for key, entry in entries),
        reasons=tuple(reasons),
        details=_details(dcc, claims, entries),
    )


def _decode(body: str) -> tuple[Sign1, Mapping[Any, Any]]:
    try:
        raw = b45decode(body)
    except ValueError:
        raise CredentialError(Kind.EU_DCC, "malformed", "not base45") from None
    try:
        sign1 = parse_sign1(_inflate(raw) if raw[:1] == b"\x78" else raw)
        claims = loads_cbor(sign1.payload)
    except CoseError as exc:
        raise CredentialError(Kind.EU_DCC, "malformed", str(exc)) from None
    if not isinstance(claims, Mapping):
        raise CredentialError(Kind.EU_DCC, "malformed", "CWT claims are not a map")
    problem = plain_problem(claims)  # before any field is read: signed or not, it is no certificate
    if problem is not None:
        raise CredentialError(Kind.EU_DCC, "malformed", f"the CWT claims hold {problem}")
    return sign1, claims


def _inflate(raw: bytes) -> bytes:
    """zlib, refusing output larger than any certificate (a decompression bomb)."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, MAX_CBOR)
    except zlib.error:
        raise CredentialError(Kind.EU_DCC, "malformed", "not zlib data") from None
    if inflater.unconsumed_tail:
        raise CredentialError(Kind.EU_DCC, "malformed", "decompresses to more than any certificate")
    return data


def _certificate(claims: Mapping[Any, Any]) -> Mapping[str, Any]:
    hcert = claims.get(-260)
    dcc = hcert.get(1) if isinstance(hcert, Mapping) else None
    if not isinstance(dcc, Mapping):
        raise CredentialError(Kind.EU_DCC, "malformed", "no health certificate (-260/1) in the CWT")
    return dcc


def _signature(sign1: Sign1, ctx: VerifyContext) -> tuple[SignerKey | None, str]:
    candidates = ctx.trust.dcc.get(sign1.kid, []) if sign1.kid else []
    if not candidates:
        return None, "unknown-key"
    for signer in candidates:  # kids are 8 bytes: two signers may share one
        if sign1.verify(signer.public_key):
            return signer, "valid"
    return None, "invalid"


def _signer_reasons(signer: SignerKey, entries: list[tuple[str, Any]], now: datetime) -> list[str]:
    reasons = []
    if (signer.not_before and now < signer.not_before) or (signer.not_after and now > signer.not_after):
        reasons.append("signer-certificate-expired")
    allowed = {kind for kind, oids in DCC_USAGE.items() if signer.usages & set(oids)}
    if allowed and any(_TYPES[key] not in allowed for key, _ in entries):
        reasons.append("key-usage")  # the certificate may sign only other types of DCC
    return reasons


def _expiry(issued: datetime | None, expires: datetime | None, now: datetime) -> str:
    if issued is not None and now + SKEW < issued:
        return "not-yet-valid"
    if expires is not None:
        return "expired" if now > expires else "ok"
    return "none"


def _identity(dcc: Mapping[str, Any]) -> Identity | None:
    nam = dcc.get("nam")
    if not isinstance(nam, Mapping) or _text(nam.get("fnt")) is None:
        return None
    return Identity("DCC-NAME", f"{nam['fnt']}<<{_text(nam.get('gnt')) or ''}|{_text(dcc.get('dob')) or ''}")


def _name(dcc: Mapping[str, Any]) -> str | None:
    nam = dcc.get("nam")
    if not isinstance(nam, Mapping):
        return None
    parts = [_text(nam.get(k)) for k in ("fn", "gn")]
    if not any(parts):
        parts = [_text(nam.get(k)) for k in ("fnt", "gnt")]
    return " ".join(p for p in parts if p) or None


def _health(key: str, entry: Mapping[str, Any]) -> Health:
    if key == "v":
        return Health("vaccination", _when(entry.get("dt")), _int(entry.get("dn")), _int(entry.get("sd")))
    if key == "t":
        return Health("test", _when(entry.get("sc")), negative=str(entry.get("tr")) == _NOT_DETECTED)
    return Health(
        "recovery", _when(entry.get("fr")), valid_from=_when(entry.get("df")), valid_until=_when(entry.get("du"))
    )


def _details(dcc: Mapping[str, Any], claims: Mapping[Any, Any], entries: list[tuple[str, Any]]) -> dict[str, Any]:
    issued, expires = _epoch(claims.get(6)), _epoch(claims.get(4))
    return {
        "schema": _text(dcc.get("ver")),
        "issuer": _text(claims.get(1)),
        "issued_at": issued.isoformat() if issued else None,
        "expires_at": expires.isoformat() if expires else None,
        "entries": [
            {"type": _TYPES[key], **{k: v for k, v in e.items() if isinstance(v, str | int)}} for key, e in entries
        ],
    }


def _text(value: object) -> str | None:
    """A text field as text; None if empty or not text (a number or a map is not turned into a name)."""
    return value if isinstance(value, str) and value else None


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _epoch(value: object) -> datetime | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _when(value: object) -> datetime | None:
    """A DCC date ("2021-05-18") or date-time ("2021-05-18T09:37:00Z", or CBOR tag 0 or 1 as Hungary and Sweden
    write it), in UTC; None if unreadable."""
    if isinstance(value, datetime):
        return value  # cbor2 gives tags 0 and 1 a time zone
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
