"""The centre's web pages: staff sign-in, the deployment dashboard, contact tracing, the status list, health
declarations, accounts and the audit log. Added to the API's FastAPI app by `add_web`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from central.passkeys import PassKey
from central.web import admin_pages, auth_pages, dashboard_pages, declare_pages, status_pages, trace_pages
from central.web.core import HERE, SECURITY_HEADERS, LoginRequired, NotAllowed, Web, login_url


def add_web(
    app: FastAPI,
    engine: Engine,
    clock: Callable[[], datetime],
    *,
    secret: bytes,
    pass_key: PassKey | None = None,
    secure_cookies: bool = False,
) -> Web:
    web = Web(engine, clock, secret=secret, pass_key=pass_key, secure_cookies=secure_cookies)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def to_login(_: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_url(exc.target), status_code=303)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, _: NotAllowed) -> Response:
        return web.render(request, "error.html", status=403, title_vi="Không được phép", title_en="Not allowed")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    auth_pages.add_routes(app, web)
    admin_pages.add_routes(app, web)
    declare_pages.add_routes(app, web)
    dashboard_pages.add_routes(app, web)
    status_pages.add_routes(app, web)
    trace_pages.add_routes(app, web)
    return web
