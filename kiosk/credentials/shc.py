"""SMART Health Cards (https://spec.smarthealth.cards): `shc:/` numeric QR text, verified offline.

`shc:/<digits>`: each pair of digits plus 45 is one character of a compact JWS (header.payload.signature);
the header says ES256 and zip DEF, the payload is raw DEFLATE of JSON claims (iss, nbf, optional exp, and a FHIR
bundle in vc.credentialSubject.fhirBundle), and the key is found by issuer URL and RFC 7638 thumbprint (kid).

A card too big for one QR is split by its issuer into `shc:/1/3/<digits>`, `shc:/2/3/...`, `shc:/3/3/...`.
`parse_shc` answers a lone chunk with a Credential whose problem is "partial" (details: part, parts) so the
loop shows progress and keeps scanning; `ShcAssembler` collects chunks across scans and gives back the whole
card as `shc:/<digits>`, the same text a single QR would hold, for `parse_shc` to verify.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from kiosk.credentials.base import Credential, CredentialError, Health, Kind
from kiosk.credentials.context import VerifyContext
from kiosk.credentials.fields import clean_name
from kiosk.credentials.jwk import b64url_decode
from kiosk.credentials.plain import plain_problem

PREFIX = "shc:/"
MAX_CHUNKS = 10  # the spec's chunking is for cards of a few kilobytes; more parts than this is not a card
QR_DIGITS = 7089  # the most digits one QR code holds (version 40, numeric mode)
MAX_JSON = 64 * 1024  # inflated payload limit, against DEFLATE bombs; real cards are a few kilobytes
NBF_SKEW = timedelta(minutes=5)  # a kiosk clock slightly behind the issuer's must not refuse a card just issued
_MAX_TEXT = len(PREFIX) + MAX_CHUNKS * QR_DIGITS
_CHUNK = re.compile(r"shc:/(?:([0-9]{1,2})/([0-9]{1,2})/)?([0-9]+)", re.IGNORECASE)
_PAIRS = {f"{n:02d}": chr(n + 45) for n in range(78)}  # "-" (45) to "z" (122) cover base64url and "."
_LATEST = 253_402_214_400  # 9999-12-31T00:00:00Z: later "times" do not fit a datetime
_SNOMED = "http://snomed.info/sct"
_NEGATIVE = frozenset({"260385009", "260415000"})  # SNOMED CT: Negative, Not detected
_POSITIVE = frozenset({"10828004", "260373001"})  # SNOMED CT: Positive, Detected
_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")


@dataclass(frozen=True)
class _Jws:
    kid: str
    signing_input: bytes
    signature: bytes
    claims: dict[str, Any]


def parse_shc(text: str, ctx: VerifyContext) -> Credential | None:
    """A SMART Health Card, verified against `ctx`; None if `text` is not `shc:/...`; CredentialError if broken.

    A lone chunk of a multi-part card gives a Credential with problem "partial" (feed it to `ShcAssembler`).
    """
    if text[: len(PREFIX)].lower() != PREFIX:
        return None
    part, parts, digits = _split(text)
    jws = _digits_to_jws(digits)
    if parts > 1:
        return Credential(Kind.SHC, problem="partial", details={"part": part, "parts": parts})
    return _credential(_decode_jws(jws), ctx)


def _split(text: str) -> tuple[int, int, str]:
    """(part, parts, digits) of `shc:/<digits>` (1, 1, ...) or `shc:/<part>/<parts>/<digits>`."""
    if len(text) > _MAX_TEXT:
        raise CredentialError(Kind.SHC, "too-long", f"longer than {MAX_CHUNKS} full QR codes")
    match = _CHUNK.fullmatch(text)
    if match is None:
        raise CredentialError(Kind.SHC, "malformed", "not shc:/ followed by digits (or shc:/N/M/ and digits)")
    if match[2] is None:
        return 1, 1, match[3]
    part, parts = int(match[1]), int(match[2])
    if not 1 <= part <= parts <= MAX_CHUNKS:
        raise CredentialError(Kind.SHC, "bad-chunk", f"chunk number must be 1 to N with N at most {MAX_CHUNKS}")
    if len(match[3]) > QR_DIGITS:
        raise CredentialError(Kind.SHC, "too-long", "a chunk longer than one QR code holds")
    return part, parts, match[3]


def _digits_to_jws(digits: str) -> str:
    if len(digits) % 2:
        raise CredentialError(Kind.SHC, "malformed", "an odd number of digits")
    try:
        return "".join([_PAIRS[digits[i : i + 2]] for i in range(0, len(digits), 2)])
    except KeyError:
        raise CredentialError(Kind.SHC, "malformed", "a digit pair above 77") from None


def _decode_jws(jws: str) -> _Jws:
    pieces = jws.split(".")
    if len(pieces) != 3:
        raise CredentialError(Kind.SHC, "malformed", "not a compact JWS (header.payload.signature)")
    header = _json(_b64(pieces[0], "header"), "bad-header", "JWS header")
    if header.get("alg") != "ES256" or header.get("zip") != "DEF":
        raise CredentialError(Kind.SHC, "bad-header", "the JWS header must say alg ES256 and zip DEF")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise CredentialError(Kind.SHC, "bad-header", "the JWS header has no kid")
    claims = _json(_inflate(_b64(pieces[1], "payload")), "bad-payload", "payload")
    signing_input = f"{pieces[0]}.{pieces[1]}".encode("ascii")
    return _Jws(kid, signing_input, _b64(pieces[2], "signature"), claims)


def _b64(value: str, what: str) -> bytes:
    try:
        return b64url_decode(value)
    except ValueError:
        raise CredentialError(Kind.SHC, "malformed", f"the JWS {what} is not base64url") from None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=-15)
    try:
        inflated = inflater.decompress(data, MAX_JSON + 1)
    except zlib.error:
        raise CredentialError(Kind.SHC, "bad-payload", "the payload is not raw DEFLATE") from None
    if len(inflated) > MAX_JSON:
        raise CredentialError(Kind.SHC, "too-large", f"the payload inflates to more than {MAX_JSON} bytes")
    if not inflater.eof:
        raise CredentialError(Kind.SHC, "bad-payload", "the DEFLATE stream is cut short")
    return inflated


def _json(data: bytes, reason: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays in a forged payload
        raise CredentialError(Kind.SHC, reason, f"the {what} is not JSON") from None
    if not isinstance(value, dict):
        raise CredentialError(Kind.SHC, reason, f"the {what} is not a JSON object")
    problem = plain_problem(value)  # NaN, Infinity, lone surrogates: JSON a reader accepts, but not data
    if problem is not None:
        raise CredentialError(Kind.SHC, reason, f"the {what} holds {problem}")
    return value


def _credential(jws: _Jws, ctx: VerifyContext) -> Credential:
    claims = jws.claims
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise CredentialError(Kind.SHC, "bad-payload", "the payload has no issuer (iss)")
    nbf = _instant(claims.get("nbf"), "nbf")
    exp = None if claims.get("exp") is None else _instant(claims.get("exp"), "exp")
    resources = _resources(claims)
    name, birth_date = _patient(resources)
    health = _health(resources)
    details: dict[str, Any] = {
        "iss": iss,
        "nbf": nbf.isoformat(),
        "immunizations": sum(h.kind == "vaccination" for h in health),
        "patient": {"name": name, "birthDate": birth_date},
    }
    if exp is not None:
        details["exp"] = exp.isoformat()
    return Credential(
        Kind.SHC,
        identity=None,  # a SMART Health Card names the person but carries no document number to key on
        name=name,
        birth_date=birth_date,
        signature=_signature(jws, iss, ctx),
        expiry=_expiry(nbf, exp, ctx.now),
        issuer=iss,
        expires_at=exp,
        health=health,
        details=details,
    )


def _instant(value: object, name: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < _LATEST:
        raise CredentialError(Kind.SHC, "bad-payload", f"'{name}' is not a time in seconds since 1970")
    return datetime.fromtimestamp(value, UTC)


def _signature(jws: _Jws, iss: str, ctx: VerifyContext) -> str:
    key = ctx.trust.shc_issuers.get(iss.rstrip("/"), {}).get(jws.kid)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return "unknown-key"
    if len(jws.signature) != 64:
        return "invalid"
    r, s = int.from_bytes(jws.signature[:32], "big"), int.from_bytes(jws.signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), jws.signing_input, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return "invalid"
    return "valid"


def _expiry(nbf: datetime, exp: datetime | None, now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if now < nbf - NBF_SKEW:
        return "not-yet-valid"
    if exp is not None and now > exp:
        return "expired"
    return "ok"


def _resources(claims: dict[str, Any]) -> list[dict[str, Any]]:
    vc = claims.get("vc")
    subject = vc.get("credentialSubject") if isinstance(vc, dict) else None
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict):
        raise CredentialError(Kind.SHC, "bad-payload", "the payload has no vc.credentialSubject.fhirBundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _patient(resources: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            birth = resource.get("birthDate")
            return _name(resource.get("name")), birth if isinstance(birth, str) and _DATE.fullmatch(birth) else None
    return None, None


def _name(names: object) -> str | None:
    """The first HumanName as "given... family" (or its text)."""
    if not isinstance(names, list) or not names or not isinstance(names[0], dict):
        return None
    first = names[0]
    given = first.get("given")
    parts = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
    family = first.get("family")
    parts += [family] if isinstance(family, str) else []
    text = first.get("text")
    joined = " ".join(parts) or (text if isinstance(text, str) else "")
    return clean_name(joined)


def _health(resources: list[dict[str, Any]]) -> tuple[Health, ...]:
    health: list[Health] = []
    doses = 0
    for resource in resources:
        kind = resource.get("resourceType")
        if kind == "Immunization" and resource.get("status") == "completed":
            doses += 1
            health.append(Health("vaccination", date=_fhir_time(resource.get("occurrenceDateTime")), doses=doses))
        elif kind == "Observation":
            date = _fhir_time(resource.get("effectiveDateTime"))
            health.append(Health("test", date=date, negative=_negative(resource)))
    return tuple(health)


def _negative(observation: dict[str, Any]) -> bool | None:
    """True for a SNOMED "negative" or "not detected" result, False for "positive" or "detected", else None."""
    concept = observation.get("valueCodeableConcept")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return None
    codes = {c["code"] for c in codings if isinstance(c, dict) and _is_snomed_code(c)}
    if codes & _NEGATIVE:
        return True
    return False if codes & _POSITIVE else None


def _is_snomed_code(coding: dict[str, Any]) -> bool:
    return coding.get("system") == _SNOMED and isinstance(coding.get("code"), str)


def _fhir_time(value: object) -> datetime | None:
    """A FHIR dateTime ("2021", "2021-01", "2021-01-29", or with a time) as an aware datetime, UTC if unzoned."""
    if not isinstance(value, str) or not 4 <= len(value) <= 40:
        return None
    padded = value + "-01-01"[len(value) - 4 :] if len(value) in (4, 7) else value
    try:
        parsed = datetime.fromisoformat(padded.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _ChunkSet:
    started: float
    parts: dict[int, str] = field(default_factory=dict)  # part number -> digits


class ShcAssembler:
    """Collects the chunks of multi-part cards across scans, in any order, repeats allowed, in bounded memory.

    Chunks are grouped by their count of parts (the issuer split one JWS; nothing else ties chunks together).
    A chunk that differs from one already held at the same position means another card: the set starts over.
    A set is dropped `max_age_s` after its first chunk, and at most `max_sets` sets are held (oldest dropped).
    Chunks of two cards mixed together give a card whose signature fails, never a valid one.
    """

    def __init__(self, *, max_age_s: float = 60.0, max_sets: int = 3) -> None:
        self._max_age_s = max_age_s
        self._max_sets = max_sets
        self._sets: dict[int, _ChunkSet] = {}  # parts -> chunks seen

    def add(self, text: str, now: float) -> str | None:
        """`shc:/<digits>` of the whole card once `text` completes one, else None (also for text not a chunk).

        `now` is monotonic seconds. The loop may call `text = assembler.add(text, now) or text` on every scan.
        """
        chunk = _chunk(text)
        if chunk is None:
            return None
        part, parts, digits = chunk
        self._expire(now)
        chunks = self._sets.get(parts)
        if chunks is None or chunks.parts.get(part, digits) != digits:
            chunks = self._start(parts, now)
        chunks.parts[part] = digits
        if len(chunks.parts) < parts:
            return None
        del self._sets[parts]
        return PREFIX + "".join(chunks.parts[i] for i in range(1, parts + 1))

    def pending(self) -> dict[int, int]:
        """Incomplete cards held: parts -> chunks seen so far."""
        return {parts: len(chunks.parts) for parts, chunks in self._sets.items()}

    def _expire(self, now: float) -> None:
        for parts in [p for p, chunks in self._sets.items() if now - chunks.started > self._max_age_s]:
            del self._sets[parts]

    def _start(self, parts: int, now: float) -> _ChunkSet:
        self._sets.pop(parts, None)
        while self._sets and len(self._sets) >= self._max_sets:
            del self._sets[min(self._sets, key=lambda p: self._sets[p].started)]
        chunks = self._sets[parts] = _ChunkSet(now)
        return chunks


def _chunk(text: str) -> tuple[int, int, str] | None:
    """(part, parts, digits) of a well-formed chunk of a multi-part card, else None."""
    if text[: len(PREFIX)].lower() != PREFIX:
        return None
    try:
        part, parts, digits = _split(text)
        _digits_to_jws(digits)
    except CredentialError:
        return None
    return (part, parts, digits) if parts > 1 else None
