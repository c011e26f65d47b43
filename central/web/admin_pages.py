"""Administrators' pages: staff accounts (add, disable) and the audit log.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from central import audit
from central.accounts import MIN_PASSWORD, ROLES, account_id, add_account, disable_account, list_accounts
from central.admin import unit_id, venue_id
from central.errors import CentralError, Conflict, NotFound
from central.web.core import Web, client_address
from central.web.messages import Message, PageError
from central.web.sessions import close_sessions_of


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def page(request: Request, conn: Tx, error: Message | None = None, status: int = 200) -> Response:
        session = web.staff(request, conn, "administrator")
        return web.render(
            request,
            "accounts.html",
            session=session,
            status=status,
            accounts=list_accounts(conn),
            roles=ROLES,
            error=error,
        )

    @app.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def accounts_page(request: Request, conn: Tx) -> Response:
        return page(request, conn)

    @app.post("/accounts", response_class=HTMLResponse, include_in_schema=False)
    def add(
        request: Request,
        conn: Tx,
        csrf: Annotated[str, Form(max_length=100)],
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        role: Annotated[str, Form(max_length=16)],
        unit: Annotated[str, Form(max_length=64)] = "",
        venue: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        session = web.staff(request, conn, "administrator")
        web.check_csrf(session.csrf, csrf)
        now = web.clock()
        try:
            with conn.begin_nested():
                _add(conn, username, password, role, now, unit=unit.strip(), venue=venue.strip())
        except PageError as refused:
            return page(request, conn, error=refused.message, status=422)
        audit.record(
            conn,
            at=now,
            actor=session.account.username,
            action="account-add",
            subject=username.strip().lower(),
            reason=f"role {role}",
            address=client_address(request),
        )
        return RedirectResponse("/accounts", status_code=303)

    @app.post("/accounts/{username}/disable", include_in_schema=False)
    def disable(request: Request, conn: Tx, username: str, csrf: Annotated[str, Form(max_length=100)]) -> Response:
        session = web.staff(request, conn, "administrator")
        web.check_csrf(session.csrf, csrf)
        if username == session.account.username:
            return page(request, conn, error=Message("account.self"), status=422)
        try:
            disable_account(conn, username, web.clock())
        except NotFound:
            return page(request, conn, error=Message("account.unknown", {"username": username[:64]}), status=404)
        close_sessions_of(conn, account_id(conn, username))
        audit.record(
            conn,
            at=web.clock(),
            actor=session.account.username,
            action="account-disable",
            subject=username,
            reason="disabled from the accounts page",
            address=client_address(request),
        )
        return RedirectResponse("/accounts", status_code=303)

    @app.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, conn: Tx) -> Response:
        session = web.staff(request, conn, "administrator")
        return web.render(request, "audit.html", session=session, entries=audit.entries(conn, 200))


def _add(conn: Connection, username: str, password: str, role: str, now: datetime, *, unit: str, venue: str) -> None:
    """`add_account`, with each of its refusals as the catalogue's message (PageError)."""
    if role not in ROLES:
        raise PageError("account.role")
    if len(password) < MIN_PASSWORD:
        raise PageError("account.password", least=MIN_PASSWORD)
    if role == "venue_admin" and not venue:
        raise PageError("account.venue_needed")
    if role in ("unit_officer", "tracer") and not unit:
        raise PageError("account.unit_needed")
    for code, find, key in ((unit, unit_id, "account.no_unit"), (venue, venue_id, "account.no_venue")):
        try:
            if code:
                find(conn, code)
        except NotFound:
            raise PageError(key, code=code) from None
    try:
        add_account(conn, username, password, role, now, unit=unit or None, venue=venue or None)
    except Conflict:
        raise PageError("account.exists", username=username.strip().lower()) from None
    except CentralError:  # what add_account checks and the lines above do not: the username's form
        raise PageError("account.username") from None
