"""Making real EU DCCs for tests: a signing certificate (EC P-256 or RSA), then HC1 text signed ES256 or PS256."""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from kiosk.credentials.base45 import b45encode
from kiosk.credentials.cose import key_id
from kiosk.credentials.trust import TrustStore

T0 = datetime(2021, 6, 1, tzinfo=UTC)
VN_VACCINATION = {
    "ver": "1.3.0",
    "nam": {"fn": "Nguyễn", "gn": "Văn An", "fnt": "NGUYEN", "gnt": "VAN<AN"},
    "dob": "1990-02-01",
    "v": [{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/21/1529", "ma": "ORG-100030215", "dn": 2, "sd": 2,
           "dt": "2021-05-18", "co": "VN", "is": "Bộ Y tế", "ci": "URN:UVCI:01:VN:TEST0001"}],
}  # fmt: skip


@dataclass
class Signer:
    key: Any
    der: bytes
    alg: str

    @property
    def kid(self) -> bytes:
        return key_id(self.der)

    def trust(self) -> TrustStore:
        store = TrustStore()
        store.add_dcc_certificate(self.der, {"country": "VN"}, "test")
        return store


def make_signer(alg: str = "ES256", *, usages: tuple[str, ...] = (), days: int = 730) -> Signer:
    key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.COMMON_NAME, "DSC")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0 - timedelta(days=1))
        .not_valid_after(T0 + timedelta(days=days))
    )
    if usages:
        oids = [x509.ObjectIdentifier(u) for u in usages]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return Signer(key, cert.public_bytes(serialization.Encoding.DER), alg)


def make_hc1(
    signer: Signer,
    dcc: dict[str, Any] = VN_VACCINATION,
    *,
    iat: datetime = T0,
    exp: datetime | None = T0 + timedelta(days=365),
    envelope: str = "tag18",
    kid_in: str = "protected",
    compress: bool = True,
    kid: bytes | None = None,
) -> str:
    claims: dict[int, Any] = {1: "VN", 6: int(iat.timestamp()), -260: {1: dcc}}
    if exp is not None:
        claims[4] = int(exp.timestamp())
    payload = cbor2.dumps(claims)
    alg = -7 if signer.alg == "ES256" else -37
    header_kid = signer.kid if kid is None else kid
    protected_map = {1: alg, **({4: header_kid} if kid_in == "protected" else {})}
    protected = cbor2.dumps(protected_map)
    unprotected = {4: header_kid} if kid_in == "unprotected" else {}
    signature = sign(signer, cbor2.dumps(["Signature1", protected, b"", payload]))
    body: Any = [protected, unprotected, payload, signature]
    if envelope != "untagged":
        body = cbor2.CBORTag(18, body)
    if envelope == "cwt":
        body = cbor2.CBORTag(61, body)
    raw = cbor2.dumps(body)
    return "HC1:" + b45encode(zlib.compress(raw, 9) if compress else raw)


def sign(signer: Signer, message: bytes) -> bytes:
    if signer.alg == "ES256":
        r, s = decode_dss_signature(signer.key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    return signer.key.sign(message, pss, hashes.SHA256())


def trust_json(*signers: Signer, with_kid: bool = True) -> dict[str, Any]:
    entries = []
    for s in signers:
        entry = {"country": "VN", "certificate": base64.b64encode(s.der).decode()}
        if with_kid:
            entry["kid"] = base64.b64encode(s.kid).decode()
        entries.append(entry)
    return {"certificates": entries}
