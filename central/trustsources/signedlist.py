"""A signed list, as national verifier backends publish their DSCs (Germany's DSC list is the model).

    <base64 ECDSA signature>\n
    {"certificates": [{"certificateType": "DSC", "country": "DE", "kid": "...", "rawData": "...", ...}]}

The signature is ECDSA P-256 with SHA-256 over the exact bytes after the first newline (the JSON, UTF-8, as
served: nothing is re-encoded or trimmed). It is DER-encoded (ASN.1 SEQUENCE of r and s) in the lists seen in
the wild; a 64-byte raw r||s (as in COSE and JWS) is accepted too. Either way the key is the pinned anchor, so
accepting both encodings lets no one else sign. The JSON may also be the gateway's bare array of entries.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from central.trustsources.errors import TrustSourceError

MAX_SIGNATURE_LINE = 512  # a P-256 signature is 64 to 72 bytes: a longer first line is not a signed list


def split(data: bytes, where: str) -> tuple[bytes, bytes]:
    """The signature (decoded) and the signed bytes."""
    line, newline, body = data.partition(b"\n")
    line = line.strip()
    if not newline or not line or len(line) > MAX_SIGNATURE_LINE or line[:1] in (b"{", b"["):
        raise TrustSourceError(
            f"{where}: not a signed list: the first line must be the base64 signature and the JSON follow it"
        )
    try:
        text = line.decode("ascii").replace("-", "+").replace("_", "/")
        signature = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raise TrustSourceError(f"{where}: line 1: the signature is not base64") from None
    return signature, body


def verify(data: bytes, key: ec.EllipticCurvePublicKey, where: str) -> Any:
    """The JSON of a signed list whose signature the anchor `key` made; refused whole otherwise."""
    signature, body = split(data, where)
    candidates = [signature]
    if len(signature) == 64:  # raw r||s
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        candidates.append(encode_dss_signature(r, s))
    if not any(_verifies(key, candidate, body) for candidate in candidates):
        raise TrustSourceError(
            f"{where}: the signature does not match: the list was changed, or signed by another key than the "
            "source's anchor; nothing imported"
        )
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # signed but unreadable: the publisher's fault, still refused
        raise TrustSourceError(f"{where}: the signed body is not JSON: {exc}") from None


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, body: bytes) -> bool:
    try:
        key.verify(signature, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
