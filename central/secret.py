"""The subject-key secret of the centre, shared with kiosks at enrolment. Kept in a file, never in the database:
a dump of the database alone must not let anyone turn subject keys back into ID numbers."""

from __future__ import annotations

import os
from pathlib import Path

from kiosk.secrets import load_or_create_secret

DEFAULT_SECRET = "kiosk-central.secret"  # noqa: S105 (a file name, not a secret)


def secret_path(flag: str | None) -> Path:
    return Path(flag or os.environ.get("KIOSK_CENTRAL_SECRET_FILE") or DEFAULT_SECRET)


def load_secret(path: Path) -> bytes:
    """The secret in `path`, made (32 random bytes, mode 0600) on first use."""
    return load_or_create_secret(path, note="made the centre's subject-key secret: back it up, kiosks depend on it")
