"""Administrators' pages: staff accounts (add, disable) and the audit log.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, select

from central import audit
from central.accounts import ROLES, add_account, disable_account, list_accounts
from central.errors import CentralError
from central.schema import accounts
from central.web.core import Web, client_address
from central.web.sessions import close_sessions_of

ROLE_NAMES = {
    "administrator": ("Quản trị hệ thống", "Administrator"),
    "unit_officer": ("Cán bộ địa bàn", "Unit officer"),
    "tracer": ("Truy vết", "Tracer"),
    "venue_admin": ("Quản lý địa điểm", "Venue admin"),
}


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    def page(request: Request, conn: Tx, error: tuple[str, str] | None = None, status: int = 200) -> Response:
        session = web.staff(request, conn, "administrator")
        return web.render(
            request,
            "accounts.html",
            session=session,
            status=status,
            accounts=list_accounts(conn),
            roles=ROLES,
            role_names=ROLE_NAMES,
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
                add_account(conn, username, password, role, now, unit=unit.strip() or None, venue=venue.strip() or None)
        except CentralError as exc:
            return page(request, conn, error=(str(exc), str(exc)), status=422)
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
            return page(request, conn, error=("Không thể tự khoá tài khoản mình.", "You cannot disable yourself."))
        try:
            disable_account(conn, username, web.clock())
        except CentralError as exc:
            return page(request, conn, error=(str(exc), str(exc)), status=404)
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.username == username)).scalar_one()
        close_sessions_of(conn, account_id)
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
