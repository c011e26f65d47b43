"""Sealing a declaration's contact phone to the health service's public key: HPKE (RFC 9180), base mode.

    suite  = DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305   (cryptography's hpke.Suite)
    sealed = enc (the ephemeral X25519 public key, 32 bytes) || ciphertext and tag (16 bytes more than the text)
    info   = the context (for a phone, "declaration-contact:<declaration id>")

This is a standard anonymous "sealed box": the sender needs only the recipient's public key, and every seal uses
a fresh ephemeral key. The centre holds only the public key (settings "contact_public_key"), so neither the
centre nor a dump of its database can open what it sealed; the health service keeps the private key in a file of
its own. The context goes into HPKE's key schedule as `info`: a sealed phone copied onto another declaration's
row does not open there.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from central.errors import CentralError

log = logging.getLogger(__name__)

KEY_BYTES = 32
TAG_BYTES = 16
OVERHEAD = KEY_BYTES + TAG_BYTES  # enc, then the AEAD's tag after the ciphertext
SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


class SealError(CentralError):
    """A sealed box that does not open: wrong private key, wrong context, or altered bytes."""


def seal(plaintext: bytes, recipient: X25519PublicKey, context: bytes) -> bytes:
    """`plaintext` readable only with the private key of `recipient`, and only under the same `context`."""
    return SUITE.encrypt(plaintext, recipient, info=context)


def open_sealed(sealed: bytes, private_key: X25519PrivateKey, context: bytes) -> bytes:
    """The plaintext of `sealed`; SealError if it was not sealed to this key under this context, or was altered."""
    if len(sealed) < OVERHEAD:
        raise SealError(f"a sealed box has at least {OVERHEAD} bytes, this one {len(sealed)}")
    try:
        return SUITE.decrypt(sealed, private_key, info=context)
    except InvalidTag:  # also what a low-order ephemeral key gives
        raise SealError("the sealed box does not open: another key, another declaration, or altered") from None


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> X25519PublicKey:
    if len(raw) != KEY_BYTES:
        raise CentralError(f"a contact public key is {KEY_BYTES} raw bytes, not {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


def write_private_key(path: Path) -> X25519PrivateKey:
    """A new key pair; the private key written to `path` (PEM, PKCS #8, mode 0600). An existing file is kept."""
    key = X25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CentralError(f"{path} exists already; choose another file (it may open earlier phones)") from None
    except OSError as exc:
        raise CentralError(f"{path}: cannot write the private key: {exc}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    return key


def read_private_key(path: Path) -> X25519PrivateKey:
    """The health service's private key from `path` (PEM, PKCS #8)."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise CentralError(f"{path}: cannot read the private key: {exc}") from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by group or others; run: chmod 600 %s", path, path)
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CentralError(f"{path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, X25519PrivateKey):
        raise CentralError(f"{path}: not an X25519 key (made by kiosk-central contact-key init)")
    return key
