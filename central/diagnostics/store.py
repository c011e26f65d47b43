"""Asking a kiosk for diagnostics, offering the request in its config document, and keeping its answer."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update

from central.audit import record
from central.diagnostics.tables import diagnostics
from central.errors import CentralError
from central.schema import devices

MAX_LINES = 500
PENDING_FOR = timedelta(days=7)  # a kiosk that stays away this long is not asked any more
KEPT = timedelta(days=30)


class NotFound(CentralError):
    status = 404


def ask(conn: Connection, device_id: str, log_lines: int, *, actor: str, now: datetime, reason: str = "") -> str:
    """A request for `device_id`'s doctor report and last `log_lines` lines; its id. Audited."""
    if conn.execute(select(devices.c.id).where(devices.c.id == device_id)).first() is None:
        raise NotFound(f"no device {device_id!r}")
    if not 0 <= log_lines <= MAX_LINES:
        raise CentralError(f"--logs is 0 to {MAX_LINES} lines")
    request_id = str(uuid.uuid4())
    conn.execute(
        diagnostics.insert().values(
            id=request_id, device_id=device_id, log_lines=log_lines, requested_at=now, requested_by=actor
        )
    )
    record(conn, at=now, actor=actor, action="diagnostics-ask", subject=device_id, reason=reason,
           detail={"id": request_id, "log_lines": log_lines})  # fmt: skip
    return request_id


def pending(conn: Connection, device_id: str, now: datetime) -> dict[str, Any] | None:
    """The oldest unanswered request for the device (of the last week), as the config document carries it."""
    row = conn.execute(
        select(diagnostics.c.id, diagnostics.c.log_lines)
        .where(
            diagnostics.c.device_id == device_id,
            diagnostics.c.answered_at.is_(None),
            diagnostics.c.requested_at >= now - PENDING_FOR,
        )
        .order_by(diagnostics.c.requested_at)
        .limit(1)
    ).first()
    return None if row is None else {"id": row.id, "log_lines": row.log_lines}


def keep_answer(conn: Connection, device_id: str, answer: dict[str, Any], now: datetime) -> bool:
    """Keep the device's answer to one of its own requests; False if it answers none (or answered already)."""
    done = conn.execute(
        update(diagnostics)
        .where(
            diagnostics.c.id == answer["id"],
            diagnostics.c.device_id == device_id,
            diagnostics.c.answered_at.is_(None),
        )
        .values(answered_at=now, answer=answer)
    )
    return bool(done.rowcount)


def latest(conn: Connection, device_id: str) -> dict[str, Any] | None:
    """The device's most recent request, answered or not."""
    row = conn.execute(
        select(diagnostics).where(diagnostics.c.device_id == device_id).order_by(diagnostics.c.requested_at.desc())
    ).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "requested_at": row.requested_at.isoformat(),
        "requested_by": row.requested_by,
        "answered_at": row.answered_at.isoformat() if row.answered_at else None,
        "answer": row.answer,
    }


def purge(conn: Connection, now: datetime) -> int:
    return int(conn.execute(delete(diagnostics).where(diagnostics.c.requested_at < now - KEPT)).rowcount)
