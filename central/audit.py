"""The audit log: who looked up or changed what about a person, when, and why. Written in the same transaction
as the act itself, so there is no trace or status change without its record."""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from central.schema import audit_log

MAX_REASON = 500
NO_REASON = "(no reason given)"  # what an entry says when none was given


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str | None,
    reason: str,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=actor[:96],
            action=action,
            subject=subject,
            reason=reason.strip()[:MAX_REASON] or NO_REASON,
            detail=detail,
            address=address,
        )
    )


def cli_actor() -> str:
    """Who runs the command line: the system user, as "cli:<name>"."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        return "cli:unknown"


def entries(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def entries_about(conn: Connection, action: str, subject: str, limit: int = 20) -> list[dict[str, Any]]:
    """The latest entries of one kind about one subject (a venue's rule changes, on its page), newest first."""
    query = select(audit_log).where(audit_log.c.action == action, audit_log.c.subject == subject)
    rows = conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]
