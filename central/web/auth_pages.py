"""Signing in and out, the public landing page and the staff home page.

No `from __future__ import annotations`: FastAPI reads the route annotations at runtime.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from central.accounts import check_login
from central.web.core import FORM_COOKIE, SESSION_COOKIE, Web, client_address, form_token, safe_next
from central.web.messages import Message
from central.web.sessions import (
    LIFETIME,
    clear_failures,
    close_session,
    login_blocked,
    note_failure,
    open_session,
)


def add_routes(app: FastAPI, web: Web) -> None:
    Tx = Annotated[Connection, Depends(web.transaction, scope="function")]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def landing(request: Request, conn: Tx) -> Response:
        return web.render(request, "index.html", session=web.session(request, conn))

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, conn: Tx, next: str = "/staff") -> Response:
        if web.session(request, conn) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return web.render(request, "login.html", form_token=form_token(request), next=safe_next(next), error=None)

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    def login(
        request: Request,
        conn: Tx,
        username: Annotated[str, Form(max_length=64, pattern=r"^[^\x00]*$")],  # PostgreSQL stores no NUL
        password: Annotated[str, Form(max_length=256)],
        csrf: Annotated[str, Form(max_length=100)],
        next: Annotated[str, Form(max_length=500)] = "/staff",
    ) -> Response:
        web.check_csrf(request.cookies.get(FORM_COOKIE), csrf)
        now, address = web.clock(), client_address(request)
        wait = login_blocked(conn, username, address, now)
        if wait is not None:
            error = Message("login.throttled", {"minutes": -(-wait // 60)})
            page = web.render(request, "login.html", status=429, form_token=csrf, next=safe_next(next), error=error)
            page.headers["Retry-After"] = str(wait)
            return page
        account = check_login(conn, username, password, now)
        if account is None:
            note_failure(conn, username, address, now)
            error = Message("login.wrong")
            return web.render(request, "login.html", status=401, form_token=csrf, next=safe_next(next), error=error)
        clear_failures(conn, username)
        response = RedirectResponse(safe_next(next), status_code=303)
        token = open_session(conn, account, now)
        web.set_cookie(response, SESSION_COOKIE, token, max_age=int(LIFETIME.total_seconds()))
        response.delete_cookie(FORM_COOKIE, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, conn: Tx, csrf: Annotated[str, Form(max_length=100)]) -> Response:
        session = web.session(request, conn)
        if session is not None:
            web.check_csrf(session.csrf, csrf)
            close_session(conn, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/staff", response_class=HTMLResponse, include_in_schema=False)
    def staff_home(request: Request, conn: Tx) -> Response:
        session = web.staff(request, conn)
        return web.render(request, "staff.html", session=session)
