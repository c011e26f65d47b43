"""The centre's pass-signing key: Ed25519, in a file beside the subject-key secret, published in the trust list.

Kiosks verify declaration passes (docs/pass-format.md) offline with the public key from the `pass_keys` section
of their trust list, which reaches them through config sync. So the key must be published before the centre
signs with it, and the file must be backed up: a lost key means every pass issued is unverifiable once a new
key replaces it, and a copied key lets anyone issue green passes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)
from sqlalchemy import Connection, select

from central.errors import CentralError, Conflict
from central.lists import import_trust
from central.schema import trust_entries
from central.statedir import ensure_state_dir

log = logging.getLogger(__name__)

DEFAULT_PASS_KEY = "kiosk-central.pass-key"  # noqa: S105 (a file name, not a key)
ENV = "KIOSK_CENTRAL_PASS_KEY_FILE"
SECTION = "pass_keys"


@dataclass(frozen=True)
class PassKey:
    """The private key, its raw public key and its kid (first 8 bytes of SHA-256 of the raw public key)."""

    private: Ed25519PrivateKey
    public_raw: bytes
    kid: bytes

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> PassKey:
        public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(private, public_raw, hashlib.sha256(public_raw).digest()[:8])

    def entry(self) -> dict[str, str]:
        """The key as a `pass_keys` entry of the trust list (docs/trust-list.md)."""
        return {"kid": _b64(self.kid), "public_key": _b64(self.public_raw)}


def pass_key_path(flag: str | None, secret: Path) -> Path:
    """--pass-key-file, else $KIOSK_CENTRAL_PASS_KEY_FILE, else kiosk-central.pass-key beside the secret file."""
    return Path(flag or os.environ.get(ENV) or secret.parent / DEFAULT_PASS_KEY)


def load_pass_key(path: Path, *, announce: bool = True) -> PassKey:
    """The pass key in `path` (PEM, PKCS #8), made (mode 0600, a note logged unless not `announce`: a throwaway
    key, as the demo's) if the file does not exist."""
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return _create(path, announce)
    except OSError as exc:
        raise CentralError(f"{path}: cannot read the pass key: {exc}") from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by group or others; run: chmod 600 %s", path, path)
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CentralError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CentralError(f"{path}: not an Ed25519 key; move it aside and run: kiosk-central pass-key show")
    return PassKey.of(key)


def _create(path: Path, announce: bool) -> PassKey:
    key = Ed25519PrivateKey.generate()
    ensure_state_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_pass_key(path)
    with os.fdopen(fd, "wb") as file:
        file.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        file.flush()
        os.fsync(file.fileno())
    if announce:
        log.warning("%s: made the centre's pass-signing key: back it up, and publish it before issuing passes", path)
    return PassKey.of(key)


def is_published(conn: Connection, key: PassKey) -> bool:
    """Whether the trust list the centre serves carries `key`."""
    entry = key.entry()
    return any(_same(entry, other) for other in _published(conn))


def publish(conn: Connection, key: PassKey, now: datetime) -> bool:
    """Put `key` in the trust list's `pass_keys` section; False if it is there already.

    Conflict if another key has the same kid: kiosks could not tell the two apart."""
    entry = key.entry()
    held = _published(conn)
    if any(_same(entry, other) for other in held):
        return False
    if any(other.get("kid") == entry["kid"] for other in held):
        raise Conflict(f"another pass key with kid {entry['kid']} is in the trust list; make a new key")
    return import_trust(conn, {SECTION: [entry]}, now) == 1


def _published(conn: Connection) -> list[dict[str, str]]:
    rows = conn.execute(select(trust_entries.c.entry).where(trust_entries.c.section == SECTION))
    return [row.entry for row in rows if isinstance(row.entry, dict)]


def _same(entry: dict[str, str], other: dict[str, str]) -> bool:
    return other.get("kid") == entry["kid"] and other.get("public_key") == entry["public_key"]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
