"""The feed's consumers: each has a name, a scope and a bearer token, made by `kiosk-central feed-client add`,
shown once and stored only as its SHA-256 (a database dump reads no feed). Revoked clients stay listed."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update

from central.errors import CentralError, Conflict, NotFound, Unauthenticated
from central.feed.scope import Scope, scope_label
from central.webhooks.tables import feed_clients

TOKEN_PREFIX = "kcf_"  # noqa: S105 (a prefix that says what a token is for, not a secret)
USE_NOTED_EVERY = timedelta(minutes=1)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class FeedClient:
    id: int
    name: str
    scope: Scope


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str, what: str) -> str:
    if not NAME.fullmatch(name):
        raise CentralError(f"{what} name {name[:70]!r}: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")
    return name


def add_client(conn: Connection, name: str, scope: Scope, now: datetime) -> str:
    """A new client; returns its token (the only time it is seen)."""
    check_name(name, "a feed client's")
    if conn.execute(select(feed_clients.c.id).where(feed_clients.c.name == name)).first():
        raise Conflict(f"feed client {name} exists already (revoke it and add another name to replace its token)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {"name": name, "token_hash": token_hash(token), "created_at": now}
    conn.execute(feed_clients.insert().values({**row, "unit_id": scope.unit_id, "venue_id": scope.venue_id}))
    return token


def revoke_client(conn: Connection, name: str, now: datetime) -> None:
    live = (feed_clients.c.name == name) & feed_clients.c.revoked_at.is_(None)
    if conn.execute(update(feed_clients).where(live).values(revoked_at=now)).rowcount == 0:
        raise NotFound(f"no feed client {name} that is not revoked; see kiosk-central feed-client list")


def list_clients(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(feed_clients).order_by(feed_clients.c.name))
    return [
        {
            "name": row.name,
            "scope": scope_label(conn, Scope(row.unit_id, row.venue_id)),
            "created_at": row.created_at,
            "last_used_at": row.last_used_at,
            "revoked_at": row.revoked_at,
        }
        for row in rows
    ]


def client_of(conn: Connection, token: str | None) -> FeedClient:
    """The live client of a bearer token; Unauthenticated for none, unknown or revoked."""
    if not token:
        raise Unauthenticated("missing bearer token: send Authorization: Bearer <the token feed-client add printed>")
    row = conn.execute(select(feed_clients).where(feed_clients.c.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked feed token: ask for a new one (kiosk-central feed-client add)")
    return FeedClient(row.id, row.name, Scope(row.unit_id, row.venue_id))


def mark_used(conn: Connection, client: FeedClient, now: datetime) -> None:
    """Noted after the page is read (a write gives the transaction an id, which would hold back the page's
    horizon), and at most once a minute: a consumer polling every second does not write every second."""
    stale = feed_clients.c.last_used_at.is_(None) | (feed_clients.c.last_used_at < now - USE_NOTED_EVERY)
    conn.execute(update(feed_clients).where(feed_clients.c.id == client.id, stale).values(last_used_at=now))
