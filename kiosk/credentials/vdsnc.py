"""ICAO Visible Digital Seal for Non-Constrained environments (VDS-NC, ICAO technical report, 2021).

The QR code holds JSON:
    {"data": {"hdr": {"t": "icao.vacc" | "icao.test", "v": 1, "is": "<ICAO country code>"}, "msg": {...}},
     "sig": {"alg": "ES256" | "ES384" | "ES512", "cer": "<base64url DER>", "sigvl": "<base64url r||s>"}}
`sigvl` is ECDSA over the RFC 8785 canonical form of `data`, made with the key of the barcode signer certificate
`cer`. That certificate is trusted only if a trusted Country Signing CA (CSCA) issued it, and it must carry the
VDS-NC extended key usage. A seal has no expiry of its own: the venue policy judges vaccination and test dates.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from kiosk.credentials.base import Credential, CredentialError, Health, Identity, Kind
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.fields import clean_name
from kiosk.credentials.jcs import canonicalize
from kiosk.credentials.trust import SignerKey, TrustListError, signer_from_certificate

MAX_SEAL = 16 * 1024  # a VDS-NC fits one QR code (under 3 KB in practice); longer text is refused unparsed
VDS_NC_SIGNER_USAGE = "2.23.136.1.1.14.2"  # extended key usage every VDS-NC barcode signer must carry
_DOCUMENT_TYPE_LIST = "2.23.136.1.1.6.2"  # ICAO Doc 9303-12 document type list extension
_DOCUMENT_TYPES = {"icao.vacc": "NV", "icao.test": "NT"}
_SEAL_ALGORITHMS: dict[str, tuple[type[hashes.HashAlgorithm], str]] = {
    "ES256": (hashes.SHA256, "secp256r1"),
    "ES384": (hashes.SHA384, "secp384r1"),
    "ES512": (hashes.SHA512, "secp521r1"),
}
_CERTIFICATE_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# What a hostile DER structure can make asn1crypto or cryptography raise while it is read or used (several of
# cryptography's certificate errors are not ValueErrors; asn1crypto parses lazily, and an issuer name holding an
# ObjectDescriptor raises AttributeError from `.native`, as the fuzz test found).
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
_X509_ERRORS = (UnsupportedAlgorithm, x509.InvalidVersion, x509.DuplicateExtension, x509.UnsupportedGeneralNameType)
_CERTIFICATE_ERRORS = (*_DECODE_ERRORS, *_X509_ERRORS)
_BASE64URL = re.compile(r"[A-Za-z0-9_\-+/]*={0,2}")
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")
_DOCUMENT_NUMBER = re.compile(r"[0-9A-Z]{1,30}")


class _DocumentTypes(core.SetOf):  # type: ignore[misc]  # asn1crypto has no type hints
    _child_spec = core.PrintableString


class _DocumentTypeList(core.Sequence):  # type: ignore[misc]
    _fields = [("version", core.Integer), ("doc_type_list", _DocumentTypes)]  # noqa: RUF012 (asn1crypto API)


@dataclass(frozen=True)
class _Signer:
    """What verification needs from the barcode signer certificate, read once from its DER."""

    key: SignerKey
    tbs: bytes  # the signed part, exactly as encoded
    signature: bytes
    algorithm: str  # asn1crypto's name: "ecdsa", "rsassa_pkcs1v15", "rsassa_pss", ...
    hash_name: str
    pss_salt: int | None
    issuer: asn1_x509.Name
    issuer_text: str
    subject: str
    document_types: frozenset[str] | None  # None when the certificate has no document type list


def parse_vdsnc(text: str, ctx: VerifyContext) -> Credential | None:
    """A verified VDS-NC seal, None if `text` is not one, CredentialError if it is one that cannot be decoded."""
    seal = _load_seal(text)
    if seal is None:
        return None
    hdr, msg, sig = _parts(seal)
    signer = _read_signer(sig["cer"])
    csca = _issuing_csca(signer, ctx.trust.cscas)
    matches = _seal_matches(sig["alg"], signer.key.public_key, _canonical(seal["data"]), _b64url(sig["sigvl"]))
    identity, name, birth_date = _holder(msg, hdr["is"])
    health = _vaccinations(msg) if hdr["t"] == "icao.vacc" else _tests(msg)
    return Credential(
        Kind.VDS_NC,
        identity,
        name=name,
        birth_date=birth_date,
        signature="unknown-key" if csca is None else "valid" if matches else "invalid",
        issuer=hdr["is"],
        health=health,
        reasons=_certificate_reasons(signer, csca, _DOCUMENT_TYPES[hdr["t"]], ctx.now),
        details=_details(hdr, msg, signer, csca, matches, len(health)),
    )


def _error(reason: str, detail: str) -> CredentialError:
    return CredentialError(Kind.VDS_NC, reason, detail)


def _load_seal(text: str) -> dict[str, Any] | None:
    stripped = text.strip()
    if not stripped.startswith("{") or "icao." not in stripped:
        return None
    if len(stripped) > MAX_SEAL:
        raise _error("too-large", f"seal is longer than {MAX_SEAL} characters")
    try:
        seal = json.loads(stripped, object_pairs_hook=_unique_members)
    except (ValueError, RecursionError):
        raise _error("malformed", "seal is not valid JSON (or repeats a member name)") from None
    data = seal.get("data") if isinstance(seal, dict) else None
    hdr = data.get("hdr") if isinstance(data, dict) else None
    kind = hdr.get("t") if isinstance(hdr, dict) else None
    return seal if isinstance(kind, str) and kind.startswith("icao.") else None


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated name would let the signed value and the displayed one differ between JSON readers.
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("repeated member name")
    return members


def _parts(seal: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    """The header, message and signature objects, checked for what verification relies on."""
    hdr, msg, sig = seal["data"]["hdr"], seal["data"].get("msg"), seal.get("sig")
    if not isinstance(msg, dict) or not isinstance(sig, dict):
        raise _error("malformed", "data.msg or sig is missing or not an object")
    if hdr["t"] not in _DOCUMENT_TYPES:
        raise _error("unsupported-type", "data.hdr.t is neither icao.vacc nor icao.test")
    if hdr.get("v") != 1 or isinstance(hdr.get("v"), bool):
        raise _error("unsupported-version", "data.hdr.v is not 1")
    if not isinstance(hdr.get("is"), str) or not re.fullmatch(r"[A-Z]{2,3}", hdr["is"]):
        raise _error("malformed", "data.hdr.is is not a country code")
    if not isinstance(sig.get("alg"), str) or sig["alg"] not in _SEAL_ALGORITHMS:
        raise _error("unsupported-algorithm", "sig.alg is not ES256, ES384 or ES512")
    if not isinstance(sig.get("cer"), str) or not isinstance(sig.get("sigvl"), str):
        raise _error("malformed", "sig.cer or sig.sigvl is missing or not a string")
    return hdr, msg, sig


def _canonical(data: object) -> bytes:
    try:
        return canonicalize(data)
    except ValueError:
        raise _error("malformed", "data has no canonical JSON form (NaN, huge number or lone surrogate)") from None


def _b64url(value: str) -> bytes:
    if not _BASE64URL.fullmatch(value):
        raise _error("malformed", "sig.cer or sig.sigvl is not base64url")
    body = value.rstrip("=").replace("+", "-").replace("/", "_")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise _error("malformed", "sig.cer or sig.sigvl is not base64url") from None


def _read_signer(cer: str) -> _Signer:
    der = _b64url(cer)
    try:
        key = signer_from_certificate(der, "sig.cer")
        cert = asn1_x509.Certificate.load(der)
        algorithm = cert["signature_algorithm"]
        return _Signer(
            key,
            cert["tbs_certificate"].dump(),
            cert["signature_value"].native,
            algorithm.signature_algo,
            algorithm.hash_algo,
            algorithm["parameters"]["salt_length"].native if algorithm.signature_algo == "rsassa_pss" else None,
            cert.issuer,
            cert.issuer.human_friendly,
            cert.subject.human_friendly,
            _document_types(cert),
        )
    except (TrustListError, *_CERTIFICATE_ERRORS):
        raise _error("bad-certificate", "sig.cer is not a readable X.509 certificate") from None


def _document_types(cert: asn1_x509.Certificate) -> frozenset[str] | None:
    for extension in cert["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted == _DOCUMENT_TYPE_LIST:
            parsed = _DocumentTypeList.load(extension["extn_value"].contents)
            return frozenset(parsed["doc_type_list"].native)
    return None


def _issuing_csca(signer: _Signer, cscas: list[SignerKey]) -> SignerKey | None:
    """The trusted CSCA whose name is the signer certificate's issuer and whose key signed it."""
    for csca in cscas:
        if _names_issuer(csca, signer.issuer) and _signed_by(signer, csca.public_key):
            return csca
    return None


def _names_issuer(csca: SignerKey, issuer: asn1_x509.Name) -> bool:
    if not csca.certificate:
        return True  # a bare trusted key has no name to match; its signature decides
    subject = _subject_of(csca.certificate)
    try:
        return subject is not None and bool(subject == issuer)
    except _CERTIFICATE_ERRORS:  # comparing normalises both names, which refuses prohibited characters
        return False


@lru_cache(maxsize=512)
def _subject_of(der: bytes) -> asn1_x509.Name | None:
    try:
        return asn1_x509.Certificate.load(der).subject
    except _CERTIFICATE_ERRORS:
        return None


def _signed_by(signer: _Signer, key: PublicKeyTypes) -> bool:
    hash_type = _CERTIFICATE_HASHES.get(signer.hash_name)
    if hash_type is None:
        return False  # SHA-1 and unknown digests: a collision could forge a signer certificate
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and signer.algorithm == "ecdsa":
            key.verify(signer.signature, signer.tbs, ec.ECDSA(hash_type()))
        elif isinstance(key, rsa.RSAPublicKey) and (rsa_padding := _rsa_padding(signer, hash_type())):
            key.verify(signer.signature, signer.tbs, rsa_padding, hash_type())
        else:
            return False
    except (InvalidSignature, *_CERTIFICATE_ERRORS):
        return False
    return True


def _rsa_padding(signer: _Signer, hash_algorithm: hashes.HashAlgorithm) -> padding.AsymmetricPadding | None:
    if signer.algorithm == "rsassa_pkcs1v15":
        return padding.PKCS1v15()
    if signer.algorithm == "rsassa_pss" and signer.pss_salt is not None:
        return padding.PSS(padding.MGF1(hash_algorithm), signer.pss_salt)
    return None


def _seal_matches(alg: str, key: PublicKeyTypes, payload: bytes, raw: bytes) -> bool:
    """Whether `raw` (r||s) is the signature `alg` names over `payload` with the signer certificate's key."""
    hash_type, curve = _SEAL_ALGORITHMS[alg]
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != curve:
        return False
    size = (key.curve.key_size + 7) // 8
    if len(raw) != 2 * size:
        return False
    signature = encode_dss_signature(int.from_bytes(raw[:size]), int.from_bytes(raw[size:]))
    try:
        key.verify(signature, payload, ec.ECDSA(hash_type()))
    except InvalidSignature:
        return False
    return True


def _certificate_reasons(signer: _Signer, csca: SignerKey | None, doc_type: str, now: datetime) -> tuple[str, ...]:
    key, reasons = signer.key, []
    if key.not_after is not None and now > key.not_after:
        reasons.append("signer-certificate-expired")
    if key.not_before is not None and now < key.not_before:
        reasons.append("signer-certificate-not-yet-valid")
    if VDS_NC_SIGNER_USAGE not in key.usages:
        reasons.append("signer-certificate-usage")
    if signer.document_types is not None and doc_type not in signer.document_types:
        reasons.append("signer-certificate-document-type")
    if csca is not None and csca.not_after is not None and now > csca.not_after:
        reasons.append("csca-certificate-expired")
    return tuple(reasons)


def _holder(msg: Mapping[str, Any], country: str) -> tuple[Identity | None, str | None, str | None]:
    """The travel document identity, name and birth date from `msg.pid`."""
    pid = msg.get("pid")
    if not isinstance(pid, dict):
        raise _error("malformed", "data.msg.pid is missing or not an object")
    number = "".join(pid["i"].split()).upper() if isinstance(pid.get("i"), str) else ""
    identity = Identity(f"PASSPORT:{country}", number) if _DOCUMENT_NUMBER.fullmatch(number) else None
    name = clean_name(pid["n"]) if isinstance(pid.get("n"), str) else None
    dob = pid.get("dob")
    return identity, name, dob if isinstance(dob, str) and _DATE.fullmatch(dob) else None


def _vaccinations(msg: Mapping[str, Any]) -> tuple[Health, ...]:
    """One entry per dose given (`ve[].vd[]`): its date (`dvc`) and its number in the series (`seq`)."""
    return tuple(
        Health("vaccination", date=_time(dose.get("dvc")), doses=_dose_number(dose.get("seq")))
        for event in _objects(msg.get("ve"))
        for dose in _objects(event.get("vd"))
    )


def _tests(msg: Mapping[str, Any]) -> tuple[Health, ...]:
    """The test: sample collection time (`dat.sc`) and result (`tr.r`)."""
    collected, outcome = msg.get("dat"), msg.get("tr")
    sampled = collected.get("sc") if isinstance(collected, dict) else None
    result = outcome.get("r") if isinstance(outcome, dict) else None
    negative = {"negative": True, "positive": False}.get(result.lower()) if isinstance(result, str) else None
    return (Health("test", date=_time(sampled), negative=negative),)


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dose_number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100 else None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _details(
    hdr: Mapping[str, Any], msg: Mapping[str, Any], signer: _Signer, csca: SignerKey | None, matches: bool, count: int
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "hdr": {"t": hdr["t"], "v": hdr["v"], "is": hdr["is"]},
        "signer": signer.subject,
        "signer_issuer": signer.issuer_text,
        "trusted_csca": csca is not None,
        "seal_signature": "matches-certificate" if matches else "does-not-match",
    }
    if hdr["t"] == "icao.vacc":
        details["vaccinations"] = count
    for field in ("uvci", "utci"):
        if isinstance(msg.get(field), str):
            details[field] = msg[field]
    return details
