"""Staff accounts: roles, the part of the unit tree each may see, and passwords (argon2id, argon2-cffi).

- administrator: everything, accounts and the audit log included.
- unit_officer: the deployment dashboard of their unit and the units below it.
- tracer: contact tracing and the status list (red / yellow), within their unit and below.
- venue_admin: their venue: its devices, its scans, enrolment codes for new kiosks.

An account with no unit sees the whole tree (administrators, or a national officer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, select, update

from central.admin import unit_id, venue_id
from central.errors import CentralError, Conflict, NotFound
from central.schema import accounts, units, venues

ROLES = ("administrator", "unit_officer", "tracer", "venue_admin")
MIN_PASSWORD = 12
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters (RFC 9106 low-memory)
# Verified against when the username is unknown, so a wrong username takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    unit_id: int | None
    venue_id: int | None
    unit_code: str | None = None
    venue_code: str | None = None

    def can(self, *roles: str) -> bool:
        return self.role == "administrator" or self.role in roles


def add_account(
    conn: Connection,
    username: str,
    password: str,
    role: str,
    now: datetime,
    *,
    unit: str | None = None,
    venue: str | None = None,
) -> int:
    check_password(password)
    row = check_new_account(conn, username, role, unit=unit, venue=venue)
    row |= {"password_hash": _hasher.hash(password), "created_at": now}
    return int(conn.execute(accounts.insert().values(row)).inserted_primary_key[0])  # type: ignore[index]


def check_new_account(
    conn: Connection, username: str, role: str, *, unit: str | None = None, venue: str | None = None
) -> dict[str, Any]:
    """Everything about a new account but its password, checked (so a command line can say what is wrong before
    asking for one); the account's row without password and time."""
    username = username.strip().lower()
    if not _USERNAME.fullmatch(username):
        raise CentralError("a username is 3 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    if role not in ROLES:
        raise CentralError(f"no role {role!r}; one of: {', '.join(ROLES)}")
    if role == "venue_admin" and not venue:
        raise CentralError("a venue admin needs --venue")
    if role in ("unit_officer", "tracer") and not unit:
        raise CentralError(f"a {role} needs --unit: the unit whose area they see")
    if conn.execute(select(accounts.c.id).where(accounts.c.username == username)).first():
        raise Conflict(f"account {username} exists already")
    return {
        "username": username,
        "role": role,
        "unit_id": unit_id(conn, unit) if unit else None,
        "venue_id": venue_id(conn, venue) if venue else None,
    }


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise CentralError(f"a password needs at least {MIN_PASSWORD} characters")


def require_account(conn: Connection, username: str) -> None:
    """NotFound unless an account `username` exists (before a command line asks for its new password)."""
    if not conn.execute(select(accounts.c.id).where(accounts.c.username == username)).first():
        raise NotFound(f"no account {username}")


def account_id(conn: Connection, username: str) -> int:
    """The id of the account `username`, disabled or not (NoResultFound if there is none)."""
    return int(conn.execute(select(accounts.c.id).where(accounts.c.username == username)).scalar_one())


def set_password(conn: Connection, username: str, password: str) -> None:
    check_password(password)
    done = conn.execute(
        update(accounts).where(accounts.c.username == username).values(password_hash=_hasher.hash(password))
    )
    if done.rowcount == 0:
        raise NotFound(f"no account {username}")


def disable_account(conn: Connection, username: str, now: datetime) -> None:
    active = accounts.c.disabled_at.is_(None)
    done = conn.execute(update(accounts).where(accounts.c.username == username, active).values(disabled_at=now))
    if done.rowcount == 0:
        raise NotFound(f"no active account {username}")


def check_login(conn: Connection, username: str, password: str, now: datetime) -> Account | None:
    """The account if `password` is right and the account active; None otherwise (same time either way)."""
    row = conn.execute(
        select(accounts).where(accounts.c.username == username.strip().lower(), accounts.c.disabled_at.is_(None))
    ).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    values: dict[str, object] = {"last_login_at": now}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)  # parameters raised since: upgrade on the way in
    conn.execute(update(accounts).where(accounts.c.id == row.id).values(**values))
    return load_account(conn, row.id)


def load_account(conn: Connection, account_id: int) -> Account | None:
    query = (
        select(accounts, units.c.code.label("unit_code"), venues.c.code.label("venue_code"))
        .outerjoin(units, units.c.id == accounts.c.unit_id)
        .outerjoin(venues, venues.c.id == accounts.c.venue_id)
        .where(accounts.c.id == account_id, accounts.c.disabled_at.is_(None))
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    return Account(row.id, row.username, row.role, row.unit_id, row.venue_id, row.unit_code, row.venue_code)


def list_accounts(conn: Connection) -> list[dict[str, object]]:
    query = (
        select(
            accounts.c.username,
            accounts.c.role,
            units.c.code.label("unit"),
            venues.c.code.label("venue"),
            accounts.c.created_at,
            accounts.c.last_login_at,
            accounts.c.disabled_at,
        )
        .outerjoin(units, units.c.id == accounts.c.unit_id)
        .outerjoin(venues, venues.c.id == accounts.c.venue_id)
        .order_by(accounts.c.username)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
