"""The subject-key secret of the centre, shared with kiosks at enrolment. Kept in a file, never in the database:
a dump of the database alone must not let anyone turn subject keys back into ID numbers."""

from __future__ import annotations

import os
from pathlib import Path

from central.errors import CentralError
from central.statedir import ENV as STATE_ENV
from central.statedir import ensure_state_dir, state_dir
from kiosk.secrets import SecretError, load_or_create_secret
from kiosk.secrets import load_secret as read_secret

DEFAULT_SECRET = "kiosk-central.secret"  # noqa: S105 (a file name, not a secret)
ENV = "KIOSK_CENTRAL_SECRET_FILE"


def secret_path(flag: str | None, db_url: str) -> Path:
    """--secret-file, else $KIOSK_CENTRAL_SECRET_FILE, else kiosk-central.secret in the state directory."""
    given = flag or os.environ.get(ENV)
    return Path(given) if given else state_dir(db_url) / DEFAULT_SECRET


def load_secret(path: Path) -> bytes:
    """The secret in `path`, made (32 random bytes, mode 0600, in a 0700 directory) on first use."""
    ensure_state_dir(path.parent)
    return load_or_create_secret(path, note="made the centre's subject-key secret: back it up, kiosks depend on it")


def existing_secret(path: Path) -> bytes:
    """The secret in `path`, which must exist: a new one would match no kiosk's subject keys."""
    try:
        secret = read_secret(path)
    except SecretError as exc:
        raise CentralError(str(exc)) from None
    if secret is None:
        raise CentralError(
            f"{path}: no subject-key secret there; give the server's with --secret-file or set {STATE_ENV}"
        )
    return secret
