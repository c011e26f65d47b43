"""Settings of the declarations (central/settings.py): how long a pass is valid, the issuer's name in it, and
the health service's key that phones are sealed to.
"""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import Connection

from central.errors import CentralError
from central.sealing import public_key_from_raw, raw_public
from central.settings import get_setting, set_setting

VALID_H_KEY, DEFAULT_VALID_H, MAX_VALID_H = "declaration_valid_h", 24, 168
ISSUER_KEY, DEFAULT_ISSUER = "pass_issuer", "VN"
CONTACT_KEY = "contact_public_key"


def valid_hours(conn: Connection) -> int:
    """How long a pass is valid, in hours (settings "declaration_valid_h", default 24)."""
    value = get_setting(conn, VALID_H_KEY)
    return int(value) if value is not None and value.isdigit() else DEFAULT_VALID_H


def set_valid_hours(conn: Connection, hours: int) -> None:
    if not 1 <= hours <= MAX_VALID_H:
        raise CentralError(f"a pass is valid 1 to {MAX_VALID_H} hours, not {hours}")
    set_setting(conn, VALID_H_KEY, str(hours))


def pass_issuer(conn: Connection) -> str:
    """The centre's name in its passes, e.g. VN-67 (settings "pass_issuer", default VN)."""
    return get_setting(conn, ISSUER_KEY) or DEFAULT_ISSUER


def set_pass_issuer(conn: Connection, name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", name):
        raise CentralError(f"an issuer name is 1 to 32 letters, digits, '.', '_' or '-', not {name!r}")
    set_setting(conn, ISSUER_KEY, name)


def contact_public_key(conn: Connection) -> X25519PublicKey | None:
    """The health service's key that phones are sealed to (settings "contact_public_key"), None if not set."""
    value = get_setting(conn, CONTACT_KEY)
    if value is None:
        return None
    try:
        return public_key_from_raw(base64.b64decode(value, validate=True))
    except ValueError:  # binascii.Error is one
        raise CentralError(f"settings {CONTACT_KEY} is not base64; run: contact-key init --replace") from None


def set_contact_public_key(conn: Connection, key: X25519PublicKey) -> None:
    set_setting(conn, CONTACT_KEY, base64.b64encode(raw_public(key)).decode("ascii"))
