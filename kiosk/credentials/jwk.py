"""JSON Web Keys (RFC 7517) of SMART Health Card issuers: EC P-256 public keys indexed by RFC 7638 thumbprint.

SMART Health Cards name the signing key by its thumbprint, so the key id is computed from the key itself; a
`kid` member in the set is only checked against it, never trusted on its own.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_COORDINATE_BYTES = 32  # P-256


def b64url_decode(value: str) -> bytes:
    """Bytes of unpadded base64url text (RFC 7515 section 2); ValueError on any other character.

    Unused low bits of the last character must be zero (RFC 4648 section 3.5): otherwise one text could be
    altered into another that decodes the same, and an altered signature would still verify.
    """
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("not base64url text")
    try:
        data = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url text") from None
    if b64url_encode(data) != value:
        raise ValueError("not canonical base64url (non-zero unused bits)")
    return data


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url text of `data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of an EC public key, base64url without padding."""
    members = {name: _text(jwk, name) for name in ("crv", "kty", "x", "y")}
    if members["kty"] != "EC":
        raise ValueError(f"kty is {members['kty']!r}: only EC keys are supported")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """The EC P-256 public key of a JWK; ValueError if it is another kind of key or not a point on the curve."""
    if _text(jwk, "kty") != "EC" or _text(jwk, "crv") != "P-256":
        raise ValueError(f"only EC P-256 keys are supported (kty={jwk.get('kty')!r}, crv={jwk.get('crv')!r})")
    if "d" in jwk:
        raise ValueError("the key has a private part ('d'): put only public keys in a trust list")
    x, y = _coordinate(jwk, "x"), _coordinate(jwk, "y")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        raise ValueError("x and y are not a point on P-256") from None


def load_jwks(jwks: object) -> dict[str, PublicKeyTypes]:
    """An issuer's key set `{"keys": [...]}` as thumbprint -> public key.

    Keys declared for something other than ES256 signing (`use` other than "sig", `alg` other than "ES256")
    are skipped; every other key must be a valid EC P-256 public key, and its `kid`, when present, must
    equal its thumbprint. ValueError names the first key that fails and why.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError('jwks must be a JSON Web Key Set: an object {"keys": [...]}')
    keys: dict[str, PublicKeyTypes] = {}
    for i, jwk in enumerate(jwks["keys"]):
        if not isinstance(jwk, Mapping):
            raise ValueError(f"jwks keys[{i}] is not an object")
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "ES256") != "ES256":
            continue
        try:
            kid, key = _load_key(jwk)
        except ValueError as exc:
            raise ValueError(f"jwks keys[{i}]: {exc}") from None
        keys[kid] = key
    return keys


def _load_key(jwk: Mapping[str, Any]) -> tuple[str, ec.EllipticCurvePublicKey]:
    key = public_key_from_jwk(jwk)
    kid = thumbprint(jwk)
    if "kid" in jwk and jwk["kid"] != kid:
        raise ValueError(f"kid {jwk['kid']!r} is not the key's RFC 7638 thumbprint {kid!r}")
    return kid, key


def _text(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise ValueError(f"member {name!r} is missing or not a string")
    return value


def _coordinate(jwk: Mapping[str, Any], name: str) -> bytes:
    try:
        value = b64url_decode(_text(jwk, name))
    except ValueError as exc:
        raise ValueError(f"member {name!r}: {exc}") from None
    if len(value) != _COORDINATE_BYTES:
        raise ValueError(f"member {name!r} must be {_COORDINATE_BYTES} bytes for P-256, not {len(value)}")
    return value
