"""The status list, for tracers: put a person on it (red or yellow, until a date) by ID number, QR code or
subject key, and take them off. Kiosks receive the change at their next config sync. Every change is audited
with the reason given; the page shows subject keys only, never who they are.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from central import audit
from central.lists import clear_status, live_status_entries, set_status
from central.localtime import local_zone
from central.subjects import SubjectError, checked_key
from central.web.core import Web, client_address
from central.web.messages import Message, PageError
from central.web.sessions import Session
from central.web.subjects import subject_of

SHOWN = 200
MAX_DAYS = 90


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def page(
        request: Request, conn: Connection, session: Session, error: Message | None = None, status: int = 200
    ) -> Response:
        rows, total = live_status_entries(conn, SHOWN)
        default_until = (web.clock().astimezone(local_zone()) + timedelta(days=14)).date().isoformat()
        return web.render(
            request,
            "status_list.html",
            session=session,
            status=status,
            entries=rows,
            total=total,
            error=error,
            default_until=default_until,
        )

    @app.get("/status-list", response_class=HTMLResponse, include_in_schema=False)
    def status_page(request: Request, conn: Tx) -> Response:
        return page(request, conn, web.staff(request, conn, "tracer"))

    @app.post("/status-list", response_class=HTMLResponse, include_in_schema=False)
    def set_entry(
        request: Request,
        conn: Tx,
        csrf: Annotated[str, Form()] = "",
        identity_number: Annotated[str, Form()] = "",
        qr_text: Annotated[str, Form()] = "",
        subject_key: Annotated[str, Form()] = "",
        status: Annotated[str, Form()] = "",
        until: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        session = web.staff(request, conn, "tracer")
        web.check_csrf(session.csrf, csrf)
        now = web.clock()
        given = {"identity_number": identity_number[:40], "qr_text": qr_text[:4000], "subject_key": subject_key[:64]}
        try:
            key, ends = _entry(web.secret, given, status, until, reason, now)
        except PageError as refused:
            return page(request, conn, session, error=refused.message, status=422)
        set_status(conn, key, status, ends, now)
        detail = {"status": status, "until": ends.isoformat()}
        audit.record(
            conn,
            at=now,
            actor=session.account.username,
            action="status-set",
            subject=key,
            reason=reason,
            detail=detail,
            address=client_address(request),
        )
        return RedirectResponse("/status-list", status_code=303)

    @app.post("/status-list/clear", include_in_schema=False)
    def clear_entry(
        request: Request,
        conn: Tx,
        csrf: Annotated[str, Form()] = "",
        subject_key: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        session = web.staff(request, conn, "tracer")
        web.check_csrf(session.csrf, csrf)
        now = web.clock()
        try:
            key = _listed_key(subject_key)
            if not reason.strip():
                raise PageError("status.reason")
        except PageError as refused:
            return page(request, conn, session, error=refused.message, status=422)
        if clear_status(conn, key, now):
            audit.record(
                conn,
                at=now,
                actor=session.account.username,
                action="status-clear",
                subject=key,
                reason=reason,
                address=client_address(request),
            )
        return RedirectResponse("/status-list", status_code=303)


def _entry(
    secret: bytes, given: dict[str, str], status: str, until: str, reason: str, now: datetime
) -> tuple[str, datetime]:
    """The subject key and the end of a new entry, or PageError saying what is wrong with the form."""
    if status not in ("red", "yellow"):
        raise PageError("status.colour")
    if not reason.strip():
        raise PageError("status.reason")
    ends = _until(until, now)
    key = subject_of(
        secret, identity_number=given["identity_number"], qr_text=given["qr_text"], subject_key=given["subject_key"]
    )
    return key, ends


def _listed_key(value: str) -> str:
    try:
        return checked_key(value[:64])
    except SubjectError:
        raise PageError("subject.key") from None


def _until(value: str, now: datetime) -> datetime:
    """The end of the local day `value` (YYYY-MM-DD), which must be after now and within MAX_DAYS."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise PageError("status.date") from None
    ends = datetime.combine(day + timedelta(days=1), time(0), local_zone())
    if ends <= now or ends - now > timedelta(days=MAX_DAYS + 1):
        raise PageError("status.range", days=MAX_DAYS)
    return ends
