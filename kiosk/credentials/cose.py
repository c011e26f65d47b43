"""COSE_Sign1 (RFC 9052) as HC1 certificates and declaration passes use it: parse, verify, sign.

Accepted envelopes: tag 18 (COSE_Sign1), tag 61 (CWT) around tag 18, and the untagged array, all seen in
deployed DCCs. The key id is taken from the protected header, else the unprotected one (protected wins).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALG, KID = 1, 4
ES256, ES384, ES512, PS256, EDDSA = -7, -35, -36, -37, -8
_ECDSA_HASH: dict[int, hashes.HashAlgorithm] = {ES256: hashes.SHA256(), ES384: hashes.SHA384(), ES512: hashes.SHA512()}
COSE_SIGN1_TAG, CWT_TAG = 18, 61
MAX_CBOR = 64 * 1024  # no credential is near this; bigger input is refused before decoding


class CoseError(ValueError):
    """Not a COSE_Sign1 structure this kiosk can read (the message never contains the input)."""


@dataclass(frozen=True)
class Sign1:
    protected: bytes  # the serialized protected header, as signed
    alg: int | None
    kid: bytes | None
    payload: bytes
    signature: bytes

    def to_be_signed(self) -> bytes:
        return cbor2.dumps(["Signature1", self.protected, b"", self.payload])

    def verify(self, key: PublicKeyTypes) -> bool:
        """True if the signature is valid for `key` with the header's algorithm."""
        try:
            _verify(self.alg, key, self.signature, self.to_be_signed())
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def loads_cbor(data: bytes) -> Any:
    """cbor2.loads for untrusted bytes: any failure (truncation, bad types, deep nesting) is a CoseError."""
    if len(data) > MAX_CBOR:
        raise CoseError("CBOR larger than any credential")
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises many types (CBORDecodeError, ValueError, RecursionError, ...)
        raise CoseError(f"not CBOR ({type(exc).__name__})") from None


def parse_sign1(data: bytes) -> Sign1:
    obj = loads_cbor(data)
    if isinstance(obj, cbor2.CBORTag) and obj.tag == CWT_TAG:
        obj = obj.value
    if isinstance(obj, cbor2.CBORTag):
        if obj.tag != COSE_SIGN1_TAG:
            raise CoseError(f"CBOR tag {obj.tag} is not COSE_Sign1")
        obj = obj.value
    # NOTE: cbor2 6 returns arrays inside tags as tuples and maps as frozendicts; accept any sequence and mapping.
    if not (isinstance(obj, list | tuple) and len(obj) == 4):
        raise CoseError("COSE_Sign1 must be an array of four")
    protected_raw, unprotected, payload, signature = obj
    if not all(isinstance(v, bytes) for v in (protected_raw, payload, signature)) or not isinstance(
        unprotected, Mapping
    ):
        raise CoseError("COSE_Sign1 members have the wrong types")
    protected = loads_cbor(protected_raw) if protected_raw else {}
    if not isinstance(protected, Mapping):
        raise CoseError("protected header is not a map")
    kid = protected.get(KID, unprotected.get(KID))
    alg = protected.get(ALG, unprotected.get(ALG))
    return Sign1(
        protected_raw,
        alg if isinstance(alg, int) else None,
        kid if isinstance(kid, bytes) else None,
        payload,
        signature,
    )


def _verify(alg: int | None, key: PublicKeyTypes, signature: bytes, message: bytes) -> None:
    if alg in _ECDSA_HASH and isinstance(key, ec.EllipticCurvePublicKey):
        # NOTE: r and s are sized by the key's curve, not by the algorithm: Spain's test certificates sign
        # "ES256" (ECDSA with SHA-256) with a P-384 key, 96-byte signatures (dgc-testdata ES 401-403, issue 228).
        # The key is pinned by the trust list and the hash by the algorithm, so this weakens nothing.
        size = (key.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            raise InvalidSignature
        r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(_ECDSA_HASH[alg]))
    elif alg == PS256 and isinstance(key, rsa.RSAPublicKey):
        # RFC 8230: salt length equals the hash length; AUTO also accepts signers that used the maximum.
        key.verify(signature, message, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
    elif alg == EDDSA and isinstance(key, Ed25519PublicKey):
        key.verify(signature, message)
    else:
        raise InvalidSignature  # an algorithm this key cannot do, or none at all


def sign1_eddsa(payload: bytes, key: Ed25519PrivateKey, kid: bytes) -> bytes:
    """A tagged COSE_Sign1 over `payload` with Ed25519 (how the central server signs declaration passes)."""
    protected = cbor2.dumps({ALG: EDDSA, KID: kid})
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, key.sign(to_sign)]))


def key_id(public_key_der: bytes) -> bytes:
    """The customary key id: the first 8 bytes of SHA-256 over the DER (of a certificate, or a public key)."""
    return hashlib.sha256(public_key_der).digest()[:8]
