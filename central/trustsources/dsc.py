"""The publisher's DSC entries, checked one by one and turned into this project's trust-list entries.

An entry (national list or EU gateway) is {"certificateType": "DSC", "country": "VN", "kid": <base64>,
"rawData": <base64 DER>, "thumbprint": <hex SHA-256 of the DER>, ...}; it becomes {"kid", "country",
"certificate"} in the `certificates` section (docs/trust-list.md). What is decided, and why:

- **A kid or thumbprint that is not the certificate's refuses the list** (naming the entry): the kiosk looks the
  signer up by kid, so a wrong one is either a corrupt list or a substitution; neither may be half-imported.
- **An expired DSC is skipped with a warning, not refused**: publishers keep expired DSCs on their lists for
  months (the kiosk would answer `signer-certificate-expired` for any pass it signed anyway); refusing them would
  make every real list unusable. A DSC not valid yet is kept: it may be published before its first use.
- **Entries of other types (CSCA, UPLOAD, AUTHENTICATION) are ignored**: the kiosk verifies with DSCs only.
- **A few malformed entries are skipped, more refuse the list**: one unreadable certificate is the publisher's
  slip and must not stop every other update (the list's signature says the publisher wrote it); more than
  `MAX_MALFORMED` means the format changed or the list is broken, and nothing of it is used.
- **A list that leaves no usable DSC is refused**: it would remove all the source's signers at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from central.trustsources.errors import TrustSourceError
from kiosk.credentials.trust import TrustListError, signer_from_certificate

MAX_MALFORMED = 10
MAX_ENTRIES = 50_000  # the EU gateway lists a few thousand DSCs
COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass
class Converted:
    """The entries a list gives, and what was left out of it and why (warnings, one line each)."""

    entries: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: int = 0  # entries of other certificate types


class Malformed(Exception):
    """One entry cannot be read; counted, and the list refused when there are too many."""


def entries_of(document: Any, where: str) -> list[Any]:
    """The entries of a national list ({"certificates": [...]}) or of the gateway's bare array."""
    entries = document.get("certificates") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise TrustSourceError(f'{where}: expected {{"certificates": [...]}} or an array of entries')
    if len(entries) > MAX_ENTRIES:
        raise TrustSourceError(f"{where}: {len(entries)} entries, more than the {MAX_ENTRIES} accepted")
    return entries


def convert(document: Any, now: datetime, where: str, cscas: Sequence[x509.Certificate] | None = None) -> Converted:
    """This project's entries for the DSCs of `document`. With `cscas` (the gateway's array), each DSC must also
    be issued by one of them; a DSC none of them issued is skipped (the array holds every country's)."""
    out = Converted()
    malformed: list[str] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries_of(document, where)):
        at = f"{where}: entry {i}"
        if isinstance(entry, Mapping) and entry.get("certificateType", "DSC") != "DSC":
            out.ignored += 1
            continue
        try:
            converted = _entry(entry, now, at, cscas, out.warnings)
        except Malformed as exc:
            malformed.append(f"entry {i}: {exc}")
            if len(malformed) > MAX_MALFORMED:
                raise TrustSourceError(
                    f"{where}: more than {MAX_MALFORMED} malformed entries; refused whole. The first: "
                    + "; ".join(malformed[:3])
                ) from None
            continue
        if converted is not None and converted["certificate"] not in seen:  # the same DSC twice: once
            seen.add(converted["certificate"])
            out.entries.append(converted)
    out.warnings[:0] = [f"{where}: skipped malformed {m}" for m in malformed]
    if not out.entries:
        raise TrustSourceError(f"{where}: no usable DSC in the list; refused (it would remove all of the source's)")
    return out


def _entry(
    entry: Any, now: datetime, at: str, cscas: Sequence[x509.Certificate] | None, warnings: list[str]
) -> dict[str, str] | None:
    if not isinstance(entry, Mapping):
        raise Malformed("not an object")
    der = _b64(entry.get("rawData"), "rawData")
    kid_text = entry.get("kid")
    kid = _b64(kid_text, "kid")
    computed = hashlib.sha256(der).digest()[:8]
    if kid != computed:
        raise TrustSourceError(
            f"{at}: kid {kid_text} is not the certificate's ({base64.b64encode(computed).decode()}: the first 8 "
            "bytes of SHA-256 of rawData); the list is corrupt or altered, refused whole"
        )
    thumbprint = entry.get("thumbprint")
    if thumbprint is not None and str(thumbprint).lower() != hashlib.sha256(der).hexdigest():
        raise TrustSourceError(f"{at} (kid {kid_text}): thumbprint is not the SHA-256 of rawData; refused whole")
    country = entry.get("country")
    if not isinstance(country, str) or not COUNTRY.match(country):
        raise Malformed(f"kid {kid_text}: 'country' must be a two-letter code, not {country!r}")
    try:
        signer = signer_from_certificate(der, at, country)
    except TrustListError:
        raise Malformed(f"kid {kid_text}: rawData is not a readable X.509 certificate") from None
    if signer.not_after is not None and signer.not_after < now:
        warnings.append(f"{at}: skipped DSC {country} kid {kid_text}: expired {signer.not_after:%Y-%m-%d}")
        return None
    if cscas is not None and not _issued_by(der, cscas, at, kid_text):
        warnings.append(f"{at}: skipped DSC {country} kid {kid_text}: issued by none of the pinned CSCAs")
        return None
    return {"kid": base64.b64encode(kid).decode(), "country": country, "certificate": base64.b64encode(der).decode()}


def _issued_by(der: bytes, cscas: Sequence[x509.Certificate], at: str, kid: object) -> bool:
    """True if a pinned CSCA signed the DSC; a DSC naming a pinned CSCA as its issuer whose signature does not
    verify refuses the list (a forgery in a pinned country's name is not a skip)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        raise Malformed(f"kid {kid}: the certificate's chain cannot be checked (not strict DER)") from None
    for csca in cscas:
        if certificate.issuer != csca.subject:
            continue
        try:
            certificate.verify_directly_issued_by(csca)
            return True
        except (InvalidSignature, ValueError, TypeError):
            continue  # another CSCA of the same name (a renewed one) may have signed it
    if any(certificate.issuer == csca.subject for csca in cscas):
        raise TrustSourceError(f"{at} (kid {kid}): names a pinned CSCA as issuer but its signature does not verify")
    return False


def _b64(value: object, key: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise Malformed(f"'{key}' is missing or not a string")
    try:
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"'{key}' is not base64") from None
