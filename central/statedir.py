"""The centre's state directory: where its subject-key secret and pass-signing key live, one place per centre.

Both files are secrets that every kiosk and every pass depends on, so they are made once, in a directory only
the centre's user can enter (0700), as files only it can read (0600), and never in whatever directory a command
happened to be started from. The directory is, in order:
1. `$KIOSK_CENTRAL_STATE_DIR`;
2. `$STATE_DIRECTORY`, which systemd sets from the unit's `StateDirectory=` (`/var/lib/kiosk-central`);
3. the directory of the SQLite database file, when the database is a SQLite file;
4. `/var/lib/kiosk-central`, the place the systemd unit uses, so that an administrator's shell and the service
   find the same secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from central.errors import CentralError

ENV = "KIOSK_CENTRAL_STATE_DIR"
SYSTEM_STATE_DIR = Path("/var/lib/kiosk-central")


def state_dir(db_url: str, environ: Mapping[str, str] = os.environ) -> Path:
    """The state directory for a centre whose database is `db_url` (not created here)."""
    explicit = environ.get(ENV) or environ.get("STATE_DIRECTORY", "").split(":")[0]
    if explicit:
        return Path(explicit)
    database = _sqlite_file(db_url)
    return database.resolve().parent if database else SYSTEM_STATE_DIR


def ensure_state_dir(path: Path) -> Path:
    """`path`, made 0700 if missing; a clear error when it cannot be."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CentralError(
            f"cannot make the state directory {path} ({exc.strerror}): set {ENV} to a directory the centre's user owns"
        ) from None
    return path


def _sqlite_file(db_url: str) -> Path | None:
    try:
        url = make_url(db_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)
