"""The subject-key secret on disk: 32 random bytes in hex, mode 0600, made once per state directory.

The central server distributes the shared secret at enrolment, so that keys match across kiosks. Before then
the kiosk makes a local one, and says so: its keys cannot be matched with other kiosks' until replaced.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from kiosk.credentials.subject import MIN_SECRET_BYTES
from kiosk.errors import KioskError

log = logging.getLogger(__name__)


class SecretError(KioskError, ValueError):
    """The secret file exists but cannot be used."""


LOCAL_NOTE = "made a local subject-key secret; keys match other kiosks only after enrolment"


def load_or_create_secret(path: Path, *, note: str = LOCAL_NOTE) -> bytes:
    """The secret in `path`, created (0600, `note` logged) if the file does not exist."""
    secret = load_secret(path)
    return _create(path, note) if secret is None else secret


def load_secret(path: Path) -> bytes | None:
    """The secret in `path`; None if there is no such file (nothing is made: for readers such as `kiosk verify`)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"{path}: cannot read the subject-key secret: {exc}") from exc
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: readable by group or others; run: chmod 600 %s", path, path)
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise SecretError(f"{path}: not hex; expected {2 * MIN_SECRET_BYTES} or more hex digits") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise SecretError(f"{path}: too short; expected at least {2 * MIN_SECRET_BYTES} hex digits")
    return secret


def _create(path: Path, note: str) -> bytes:
    secret = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return load_or_create_secret(path, note=note)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secret.hex() + "\n")
        file.flush()
        os.fsync(file.fileno())
    log.warning("%s: %s", path, note)
    return secret
