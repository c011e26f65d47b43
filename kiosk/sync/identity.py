"""The device's identity on disk: its Ed25519 key (0600, never leaves the device) and its enrolment record."""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from kiosk.errors import KioskError

log = logging.getLogger(__name__)
KEY_FILE = "device.key"
ENROLMENT_FILE = "enrollment.json"


class NotEnrolled(KioskError, RuntimeError):
    """The kiosk has no enrolment yet: run `kiosk enroll --server URL --code CODE`."""


@dataclass(frozen=True)
class Enrolment:
    server: str
    device_id: str
    venue: str
    ca_bundle: str | None = None


def make_key(state_dir: Path) -> Ed25519PrivateKey:
    """A new device key, written with mode 0600 (an existing key is kept: re-enrolment reuses it)."""
    path = state_dir / KEY_FILE
    if path.exists():
        return load_key(state_dir)
    key = Ed25519PrivateKey.generate()
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        file.flush()
        os.fsync(file.fileno())
    return key


def load_key(state_dir: Path) -> Ed25519PrivateKey:
    path = state_dir / KEY_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotEnrolled(f"{path}: no device key; run: kiosk enroll --server URL --code CODE") from None
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by group or others; run: chmod 600 %s", path, path)
    if len(raw) != 32:
        raise NotEnrolled(f"{path}: not a 32-byte Ed25519 key; move it aside and enrol again")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_key_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def save_enrolment(state_dir: Path, enrolment: Enrolment) -> None:
    write_atomic(state_dir / ENROLMENT_FILE, json.dumps(asdict(enrolment), indent=1).encode())


def load_enrolment(state_dir: Path) -> Enrolment | None:
    path = state_dir / ENROLMENT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Enrolment(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError) as exc:
        raise NotEnrolled(f"{path}: unreadable ({exc}); enrol again") from None


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a power cut leaves either the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:  # e.g. a full disk: the old file stays, and no half-written temporary takes space
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
