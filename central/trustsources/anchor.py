"""The pinned anchor of a source, read from PEM once when the source is added and again at every fetch.

A signed list (`signed-list`) is verified with one ECDSA P-256 public key: the publisher's list-signing key,
given as a PEM public key or as the certificate that carries it. The EU gateway's array of entries (`dccg`) has
no signature over the whole; each DSC in it must instead be issued by a CSCA the province pinned, so its anchor
is a PEM bundle of CSCA certificates.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

from central.trustsources.errors import TrustSourceError

CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def list_key(pem: str, where: str) -> ec.EllipticCurvePublicKey:
    """The P-256 key a signed list must be signed with."""
    data = pem.encode("ascii", "replace")
    try:
        key = x509.load_pem_x509_certificate(data).public_key() if CERTIFICATE in data else load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TrustSourceError(f"{where}: not a PEM public key or certificate ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise TrustSourceError(f"{where}: the anchor of a signed list must be an ECDSA P-256 key")
    return key


def csca_certificates(pem: str, where: str) -> list[x509.Certificate]:
    """The CSCA certificates a gateway array's DSCs must be issued by (at least one)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError as exc:
        raise TrustSourceError(f"{where}: not PEM CSCA certificates ({exc})") from None
    return certificates


def check_anchor(pem: str, fmt: str, where: str) -> str:
    """A short fingerprint of the anchor (SHA-256 of the key or of the certificates), after checking it suits
    `fmt`: what `trust source list` shows, to compare with the publisher's announcement."""
    if fmt == "signed-list":
        der = list_key(pem, where).public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    else:
        der = b"".join(c.public_bytes(Encoding.DER) for c in csca_certificates(pem, where))
    return hashlib.sha256(der).hexdigest()[:16]
