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
    payload: bytes | None = None,
) -> str:
    """HC1 text of `dcc` signed by `signer`; `payload` signs those CWT bytes instead (tampered CBOR)."""
    if payload is None:
        payload = cbor2.dumps(cwt_claims(dcc, iat=iat, exp=exp))
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


def cwt_claims(
    dcc: Any = VN_VACCINATION, *, iat: datetime = T0, exp: datetime | None = T0 + timedelta(days=365)
) -> dict[Any, Any]:
    """The CWT claims of a certificate: issuer, issued-at, expiry (if any) and the health certificate."""
    claims: dict[Any, Any] = {1: "VN", 6: int(iat.timestamp()), -260: {1: dcc}}
    if exp is not None:
        claims[4] = int(exp.timestamp())
    return claims


HUGE = 2**20000  # 6,021 digits: str() of it raises ValueError (Python's 4,300-digit limit); CBOR tag 2 (bignum)


def nested(depth: int, leaf: Any = 0) -> list[Any]:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def hostile_payloads() -> dict[str, bytes]:
    """CWT payloads no issuer makes, each decoding to something that is not JSON data (issue 12): byte-string
    and array map keys, tags (nested, unknown, and those cbor2 turns into Python objects), huge integers, NaN,
    infinity, nesting deeper than any certificate, a cycle and a shared-reference bomb. Signed, they pass the
    signature check: only the parser stands between them and every output. (A date-time tag is not among them:
    Hungary's and Sweden's certificates write test sample times so, see the EU test vectors.)"""
    dcc, entry = VN_VACCINATION, VN_VACCINATION["v"][0]

    def with_dcc(changed: dict[Any, Any]) -> bytes:
        return cbor2.dumps(cwt_claims({**dcc, **changed}))

    cycle: list[Any] = []
    cycle.append(cycle)
    bomb: list[Any] = [0]
    for _ in range(4):  # 100**4 paths to the leaf in about a kilobyte
        bomb = [bomb] * 100
    return {
        "bytes-key-in-entry": with_dcc({"v": [{**entry, b"ci": "URN:UVCI:01:VN:X"}]}),
        "bytes-key-in-name": with_dcc({"nam": {**dcc["nam"], b"fnt": "NGUYEN"}}),
        "bytes-key-in-claims": cbor2.dumps({**cwt_claims(), b"\x01": "VN"}),
        "array-key": with_dcc({"v": [{**entry, (1, 2): "x"}]}),
        "nested-tags": with_dcc({"ver": cbor2.CBORTag(9999, cbor2.CBORTag(9998, cbor2.CBORTag(4, [-2, 27315])))}),
        "unknown-tag": with_dcc({"dob": cbor2.CBORTag(40404, "1990-02-01")}),
        "date-tag": with_dcc({"dob": cbor2.CBORTag(1004, "1990-02-01")}),  # a date-time tag is read (HU, SE)
        "set-tag": with_dcc({"v": [{**entry, "dt": cbor2.CBORTag(258, ["2021-05-18"])}]}),
        "regex-tag": with_dcc({"ver": cbor2.CBORTag(35, "(a+)+$")}),
        "huge-integer-birth-date": with_dcc({"dob": HUGE}),
        "huge-integer-in-entry": with_dcc({"v": [{**entry, "dn": HUGE}]}),
        "huge-integer-name": with_dcc({"nam": {**dcc["nam"], "fnt": HUGE}}),
        "huge-integer-issuer": cbor2.dumps({**cwt_claims(), 1: HUGE}),
        "nan-expiry": cbor2.dumps({**cwt_claims(), 4: float("nan")}),
        "infinite-schema": with_dcc({"ver": float("inf")}),
        "deep-nesting": with_dcc({"ver": nested(200)}),
        "cycle": cbor2.dumps(cwt_claims({**dcc, "ver": cycle}), value_sharing=True),
        "shared-reference-bomb": cbor2.dumps(cwt_claims({**dcc, "v": bomb}), value_sharing=True),
        "many-values": with_dcc({"ver": [0] * 10_001}),
        "undefined": with_dcc({"ver": cbor2.undefined}),
    }


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
