"""Enrolment and device authentication: a one-time code, then nonces signed with the device's Ed25519 key.

Nothing depends on the device's clock: nonces and tokens expire by the server's clock only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Row, select, update

from central.admin import code_hash
from central.errors import Denied, Unauthenticated
from central.schema import auth_nonces, auth_tokens, devices, enroll_codes, venues
from central.timeutil import aware

NONCE_TTL = timedelta(seconds=60)
TOKEN_TTL = timedelta(minutes=15)
AUTH_CONTEXT = b"kiosk-auth-v1"


@dataclass(frozen=True)
class Device:
    id: str
    venue_id: int
    venue: str


def enroll(conn: Connection, code: str, public_key: str, name: str | None, now: datetime) -> Device:
    """Register a device key with a one-time code; the code is consumed."""
    key = _public_key(public_key)
    row = conn.execute(
        select(enroll_codes.c.venue_id, enroll_codes.c.expires_at, enroll_codes.c.used_at).where(
            enroll_codes.c.code_hash == code_hash(code)
        )
    ).first()
    if row is None or row.used_at is not None or now > aware(row.expires_at):  # type: ignore[operator]
        raise Denied("enrolment code unknown, already used or expired: ask for a new one")
    device_id = str(uuid.uuid4())
    consumed = conn.execute(
        update(enroll_codes)
        .where(enroll_codes.c.code_hash == code_hash(code), enroll_codes.c.used_at.is_(None))
        .values(used_at=now, device_id=device_id)
    )
    if consumed.rowcount != 1:  # another enrolment took it between our read and this write
        raise Denied("enrolment code already used")
    conn.execute(
        devices.insert().values(id=device_id, venue_id=row.venue_id, name=name, public_key=key, enrolled_at=now)
    )
    return _device(conn, device_id)


def challenge(conn: Connection, device_id: str, now: datetime) -> str:
    _active(conn, device_id)
    nonce = base64.b64encode(secrets.token_bytes(32)).decode()
    conn.execute(auth_nonces.insert().values(nonce=nonce, device_id=device_id, expires_at=now + NONCE_TTL))
    return nonce


def issue_token(conn: Connection, device_id: str, nonce: str, signature: str, now: datetime) -> str:
    """A bearer token for a device that signed a fresh nonce of ours; each nonce works once."""
    key = _active(conn, device_id)
    # The nonce is used up in a transaction of its own, committed whatever the signature turns out to be: a
    # refused signature must not leave the nonce open for another try.
    with conn.engine.begin() as own:
        used = own.execute(
            update(auth_nonces)
            .where(auth_nonces.c.nonce == nonce, auth_nonces.c.device_id == device_id, auth_nonces.c.used_at.is_(None))
            .where(auth_nonces.c.expires_at > now)
            .values(used_at=now)
        )
    if used.rowcount != 1:
        raise Denied("nonce unknown, expired or already used: ask for a new challenge")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(_b64(signature, 64), signed_message(device_id, nonce))
    except InvalidSignature:
        raise Denied("signature does not match the device key") from None
    token = secrets.token_urlsafe(32)
    conn.execute(auth_tokens.insert().values(token_hash=_hash(token), device_id=device_id, expires_at=now + TOKEN_TTL))
    return token


def signed_message(device_id: str, nonce: str) -> bytes:
    return AUTH_CONTEXT + b"\n" + device_id.encode() + b"\n" + nonce.encode()


def authenticate(conn: Connection, token: str, now: datetime) -> Device:
    row = conn.execute(
        select(auth_tokens.c.device_id, devices.c.revoked_at)
        .join(devices, devices.c.id == auth_tokens.c.device_id)
        .where(auth_tokens.c.token_hash == _hash(token), auth_tokens.c.expires_at > now)
    ).first()
    if row is None:
        raise Unauthenticated("token unknown or expired: authenticate again")
    if row.revoked_at is not None:
        raise Denied("device revoked")
    return _device(conn, row.device_id)


def record_heartbeat(conn: Connection, device_id: str, heartbeat: dict[str, Any], now: datetime) -> None:
    """The device was heard `now`: its heartbeat is kept as sent, with the time it came."""
    conn.execute(
        update(devices)
        .where(devices.c.id == device_id)
        .values(last_seen_at=now, last_heartbeat={**heartbeat, "received_at": now.isoformat()})
    )


def list_devices(conn: Connection) -> Sequence[Row[str, str, datetime | None, datetime | None]]:
    """Every enrolled device: its id, its venue's code, when it was last seen and when revoked (None: never)."""
    return conn.execute(
        select(devices.c.id, venues.c.code, devices.c.last_seen_at, devices.c.revoked_at).join(
            venues, venues.c.id == devices.c.venue_id
        )
    ).all()


def _active(conn: Connection, device_id: str) -> bytes:
    row = conn.execute(select(devices.c.public_key, devices.c.revoked_at).where(devices.c.id == device_id)).first()
    if row is None or row.revoked_at is not None:
        raise Denied("unknown or revoked device")
    return bytes(row.public_key)


def _device(conn: Connection, device_id: str) -> Device:
    row = conn.execute(
        select(devices.c.id, devices.c.venue_id, venues.c.code)
        .join(venues, venues.c.id == devices.c.venue_id)
        .where(devices.c.id == device_id)
    ).one()
    return Device(row.id, row.venue_id, row.code)


def _public_key(value: str) -> bytes:
    raw = _b64(value, 32)
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


def _b64(value: str, length: int) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Denied("not base64") from None
    if len(raw) != length:
        raise Denied(f"expected {length} bytes")
    return raw


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
