"""Staff sessions and login throttling, kept in the database so any number of server processes share them.

A session is a random token in an HttpOnly cookie; the database holds only its SHA-256, so a dump logs no one
in. Each session has its own CSRF token, sent back in every form. Sessions end after 2 hours idle or 12 hours in
all. Logins are refused for a while after 5 failures for one username, or 20 from one address, in 15 minutes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update

from central.accounts import Account, load_account
from central.schema import login_failures, web_sessions
from central.timeutil import aware

IDLE = timedelta(hours=2)
LIFETIME = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(conn: Connection, account: Account, now: datetime) -> str:
    """A new session (never a reused one: no fixation); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    conn.execute(
        web_sessions.insert().values(
            token_hash=_hash(token),
            account_id=account.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + LIFETIME,
            last_seen_at=now,
        )
    )
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))  # the expired ones of everyone
    return token


def find_session(conn: Connection, token: str | None, now: datetime) -> Session | None:
    if not token or len(token) > 100:
        return None
    row = conn.execute(select(web_sessions).where(web_sessions.c.token_hash == _hash(token))).first()
    if row is None:
        return None
    last_seen = aware(row.last_seen_at)
    if aware(row.expires_at) <= now or last_seen is None or now - last_seen > IDLE:  # type: ignore[operator]
        conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == row.token_hash))
        return None
    account = load_account(conn, row.account_id)
    if account is None:  # disabled since
        return None
    if now - last_seen >= TOUCH_EVERY:
        conn.execute(update(web_sessions).where(web_sessions.c.token_hash == row.token_hash).values(last_seen_at=now))
    return Session(account, row.csrf)


def close_session(conn: Connection, token: str | None) -> None:
    if token:
        conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == _hash(token)))


def close_sessions_of(conn: Connection, account_id: int) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account_id))


def login_blocked(conn: Connection, username: str, address: str, now: datetime) -> int | None:
    """Seconds to wait before trying again, or None when a login may be tried."""
    since = now - FAILURE_WINDOW
    for column, value, limit in (
        (login_failures.c.username, username.strip().lower(), MAX_FAILURES_PER_USER),
        (login_failures.c.address, address, MAX_FAILURES_PER_ADDRESS),
    ):
        count, first = conn.execute(
            select(func.count(), func.min(login_failures.c.at)).where(column == value, login_failures.c.at > since)
        ).one()
        if count >= limit:
            return max(1, int((aware(first) + FAILURE_WINDOW - now).total_seconds()))  # type: ignore[operator]
    return None


def note_failure(conn: Connection, username: str, address: str, now: datetime) -> None:
    conn.execute(login_failures.insert().values(username=username.strip().lower()[:64], address=address, at=now))
    conn.execute(delete(login_failures).where(login_failures.c.at < now - timedelta(days=1)))


def clear_failures(conn: Connection, username: str) -> None:
    """After a good login: that username's failures (not the address's: one good account must not reset them)."""
    conn.execute(delete(login_failures).where(login_failures.c.username == username.strip().lower()))
