"""Trust material for offline verification: who may sign what, loaded once, looked up by key id.

The trust-list file is JSON (see docs/trust-list.md):
    {"issued_at": "<ISO 8601>",
     "certificates": [{"kid": "<base64>", "country": "VN", "certificate": "<base64 DER>"}],
     "shc_issuers": [{"iss": "https://...", "jwks": {"keys": [...]}}],
     "csca": [{"country": "AU", "certificate": "<base64 DER>"}],
     "pass_keys": [{"kid": "<base64>", "public_key": "<base64 raw Ed25519 key>"}]}
Every section is optional. A DCC certificate without "kid" gets the first 8 bytes of SHA-256 of its DER.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_der_public_key

from kiosk.credentials.listfile import list_time, load_list
from kiosk.errors import KioskError

# Extended key usage OIDs a DCC signing certificate may carry to restrict what it signs (eHealth network
# guidelines); both the registered arc and the one used in early deployments occur in the wild.
DCC_USAGE = {
    "test": ("1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.0.1847.2021.1.1"),
    "vaccination": ("1.3.6.1.4.1.1847.2021.1.2", "1.3.6.1.4.1.0.1847.2021.1.2"),
    "recovery": ("1.3.6.1.4.1.1847.2021.1.3", "1.3.6.1.4.1.0.1847.2021.1.3"),
}


class TrustListError(KioskError, ValueError):
    """The trust-list file cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class SignerKey:
    """A document signer's public key with the limits its certificate puts on it."""

    public_key: PublicKeyTypes
    country: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    usages: frozenset[str] = frozenset()  # extended key usage OIDs; empty means no restriction
    certificate: bytes = b""  # DER, where the key came from a certificate


@dataclass
class TrustStore:
    """All trusted keys, indexed for lookup in constant time."""

    dcc: dict[bytes, list[SignerKey]] = field(default_factory=dict)  # kid -> keys (kids can collide)
    shc_issuers: dict[str, dict[str, PublicKeyTypes]] = field(default_factory=dict)  # iss -> kid -> key
    cscas: list[SignerKey] = field(default_factory=list)
    pass_keys: dict[bytes, Ed25519PublicKey] = field(default_factory=dict)
    issued_at: datetime | None = None

    @classmethod
    def load(cls, path: Path) -> TrustStore:
        return load_list(path, "trust list", TrustListError, cls.from_json)

    @classmethod
    def from_json(cls, data: Any) -> TrustStore:
        if not isinstance(data, dict):
            raise TrustListError("the trust list must be a JSON object")
        store = cls(issued_at=_time(data.get("issued_at"), "issued_at"))
        for i, entry in enumerate(_list(data, "certificates")):
            store.add_dcc_certificate(_b64(entry, "certificate", f"certificates[{i}]"), entry, f"certificates[{i}]")
        for i, entry in enumerate(_list(data, "shc_issuers")):
            store.add_shc_issuer(entry, f"shc_issuers[{i}]")
        for i, entry in enumerate(_list(data, "csca")):
            der = _b64(entry, "certificate", f"csca[{i}]")
            store.cscas.append(signer_from_certificate(der, f"csca[{i}]", entry.get("country")))
        for i, entry in enumerate(_list(data, "pass_keys")):
            store.add_pass_key(entry, f"pass_keys[{i}]")
        return store

    def add_dcc_certificate(self, der: bytes, entry: Mapping[str, Any], where: str) -> None:
        kid = _b64(entry, "kid", where) if entry.get("kid") else hashlib.sha256(der).digest()[:8]
        signer = signer_from_certificate(der, where, entry.get("country"))
        self.dcc.setdefault(kid, []).append(signer)

    def add_shc_issuer(self, entry: Mapping[str, Any], where: str) -> None:
        from kiosk.credentials.jwk import load_jwks

        iss = entry.get("iss")
        if not isinstance(iss, str) or not iss:
            raise TrustListError(f"{where}: 'iss' must be the issuer URL")
        try:
            self.shc_issuers[iss.rstrip("/")] = load_jwks(entry.get("jwks"))
        except ValueError as exc:
            raise TrustListError(f"{where}: {exc}") from None

    def add_pass_key(self, entry: Mapping[str, Any], where: str) -> None:
        raw = _b64(entry, "public_key", where)
        if len(raw) != 32:
            raise TrustListError(f"{where}: public_key must be a 32-byte raw Ed25519 key")
        self.pass_keys[_b64(entry, "kid", where)] = Ed25519PublicKey.from_public_bytes(raw)

    def age(self, now: datetime) -> float | None:
        """Seconds since the trust list was issued (None if it does not say)."""
        return None if self.issued_at is None else (now - self.issued_at).total_seconds()


def signer_from_certificate(der: bytes, where: str, country: object = None) -> SignerKey:
    """The key, validity and usages of a certificate.

    NOTE: some national DCC signing certificates in the wild violate DER rules (negative serial numbers,
    malformed extensions) and strict parsers refuse them; asn1crypto reads them, so a genuine pass is not
    rejected for its issuer's encoding mistakes.
    """
    country_code = country if isinstance(country, str) else None
    try:
        cert = x509.load_der_x509_certificate(der)
        return SignerKey(
            cert.public_key(),
            country_code,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
            _usages(cert),
            der,
        )
    except Exception:  # cryptography raises ValueError, InvalidVersion, DuplicateExtension, UnsupportedAlgorithm...
        return _lenient_signer(der, where, country_code)


def _usages(cert: x509.Certificate) -> frozenset[str]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(oid.dotted_string for oid in eku)


def _lenient_signer(der: bytes, where: str, country: str | None) -> SignerKey:
    try:
        cert = asn1_x509.Certificate.load(der)
        tbs = cert["tbs_certificate"]
        key = load_der_public_key(tbs["subject_public_key_info"].dump())
        validity = tbs["validity"]
        usages = frozenset(cert.extended_key_usage_value.native) if cert.extended_key_usage_value else frozenset()
        return SignerKey(
            key,
            country,
            validity["not_before"].native,
            validity["not_after"].native,
            frozenset(str(u) for u in usages),  # DCC usages are unknown to asn1crypto: it keeps them dotted
            der,
        )
    except Exception as exc:  # asn1crypto is as varied; anything here means the entry is unusable
        raise TrustListError(f"{where}: not a readable X.509 certificate ({type(exc).__name__})") from None


def _list(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise TrustListError(f"'{key}' must be a list of objects")
    return value


def _b64(entry: Mapping[str, Any], key: str, where: str) -> bytes:
    value = entry.get(key)
    if not isinstance(value, str):
        raise TrustListError(f"{where}: '{key}' is missing or not a string")
    try:
        padded = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise TrustListError(f"{where}: '{key}' is not base64") from None


def _time(value: object, where: str) -> datetime | None:
    return list_time(value, where, TrustListError)
