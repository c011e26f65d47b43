"""A signed release: the manifest that names a bundle by its SHA-256, and the Ed25519 signature over it.

The release key's private half never leaves the release manager's offline machine (`scripts/release.py`); its
public half is baked into every kiosk image (/etc/kiosk/release-key.pub) and given to the centre. A kiosk
installs a bundle only when the manifest's signature verifies with that key, the bundle's hash and size are the
manifest's, and the version is newer than the one it runs. The centre checks the same before it offers a
release, but a kiosk trusts only the key: a centre that was broken into cannot push code.

A signed release document (`kiosk-<version>.release.json`):

    {"manifest": {"format": "kiosk-release/1", "name": "kiosk", "version": "0.2.0",
                  "bundle": "kiosk-0.2.0.tar.gz", "sha256": "<64 hex>", "size": 1234567,
                  "created_at": "2026-12-06T10:00:00+00:00"},
     "key_id": "<16 hex: SHA-256 of the raw public key, first 8 bytes>",
     "signature": "<base64 Ed25519 signature over the RFC 8785 canonical form of manifest>"}

Pure: no I/O here but what the caller hands in (bytes, keys); both the kiosk and the centre use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from packaging.version import InvalidVersion, Version

from kiosk.credentials.jcs import canonicalize
from kiosk.errors import KioskError

FORMAT = "kiosk-release/1"
NAME = "kiosk"
MAX_BUNDLE = 512 * 2**20  # a release bundle larger than this is refused before it is fetched
_BUNDLE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}\.tar\.gz$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ReleaseError(KioskError, ValueError):
    """A release that must not be installed or offered: says what is wrong with it."""


@dataclass(frozen=True)
class Manifest:
    version: str
    bundle: str
    sha256: str
    size: int
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": NAME,
            "version": self.version,
            "bundle": self.bundle,
            "sha256": self.sha256,
            "size": self.size,
            "created_at": self.created_at,
        }


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The release key's public half from PEM; ReleaseError if it is not an Ed25519 public key."""
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise ReleaseError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseError("the release key must be an Ed25519 public key")
    return key


def version_of(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise ReleaseError(f"version {text[:40]!r} is not a version (PEP 440: 0.2.0, 1.0.1rc1)") from None


def newer(candidate: str, running: str) -> bool:
    """`candidate` is a later version than `running` (a kiosk never installs an older or the same one)."""
    return version_of(candidate) > version_of(running)


def manifest_for(version: str, bundle_name: str, bundle: bytes, created_at: datetime) -> Manifest:
    version_of(version)
    return Manifest(version, bundle_name, hashlib.sha256(bundle).hexdigest(), len(bundle), created_at.isoformat())


def sign(manifest: Manifest, key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed release document for `manifest` (the release manager's offline step)."""
    body = manifest.as_json()
    signature = key.sign(canonicalize(body))
    return {"manifest": body, "key_id": key_id(key.public_key()), "signature": base64.b64encode(signature).decode()}


def verify(document: Any, public: Ed25519PublicKey) -> Manifest:
    """The manifest of a signed release document, if its signature verifies with `public` and it reads whole;
    ReleaseError saying why not."""
    if not isinstance(document, dict) or not isinstance(document.get("manifest"), dict):
        raise ReleaseError("a release document is an object with 'manifest', 'key_id' and 'signature'")
    body, signature = document["manifest"], document.get("signature")
    if document.get("key_id") != key_id(public):
        raise ReleaseError(f"signed with key {str(document.get('key_id'))[:20]!r}, not this kiosk's release key")
    try:
        raw = base64.b64decode(str(signature), validate=True)
        public.verify(raw, canonicalize(body))
    except (binascii.Error, ValueError, TypeError, InvalidSignature):
        raise ReleaseError("the release's signature does not verify with the release key") from None
    return _manifest(body)


def check_bundle(manifest: Manifest, bundle: bytes) -> None:
    """ReleaseError unless `bundle` is exactly the one the manifest names (size, then SHA-256)."""
    if len(bundle) != manifest.size:
        raise ReleaseError(f"bundle is {len(bundle)} bytes, the manifest says {manifest.size}")
    if hashlib.sha256(bundle).hexdigest() != manifest.sha256:
        raise ReleaseError("bundle's SHA-256 is not the manifest's: refused (tampered or damaged in transit)")


def _manifest(body: dict[str, Any]) -> Manifest:
    if body.get("format") != FORMAT or body.get("name") != NAME:
        raise ReleaseError(f"not a {FORMAT} manifest for {NAME}")
    version, bundle, digest, size = body.get("version"), body.get("bundle"), body.get("sha256"), body.get("size")
    if not isinstance(version, str):
        raise ReleaseError("manifest.version: missing")
    version_of(version)
    if not isinstance(bundle, str) or not _BUNDLE_NAME.match(bundle):
        raise ReleaseError("manifest.bundle: a file name ending in .tar.gz (letters, digits, . _ -)")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ReleaseError("manifest.sha256: 64 lower-case hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_BUNDLE:
        raise ReleaseError(f"manifest.size: 1 to {MAX_BUNDLE} bytes")
    return Manifest(version, bundle, digest, size, str(body.get("created_at", "")))
