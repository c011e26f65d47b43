"""The centre's web pages: staff sign-in, the deployment dashboard, contact tracing, the status list, venues' gate
rules and who is inside them, health declarations, accounts and the audit log. Added to the API's FastAPI app by
`add_web`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from central.admission import Admission
from central.passkeys import PassKey
from central.readside import Reader
from central.web import (
    admin_pages,
    auth_pages,
    dashboard_pages,
    declare_pages,
    error_pages,
    rules_pages,
    site_pages,
    status_pages,
    trace_pages,
    venues_pages,
    visits_pages,
    webhooks_pages,
)
from central.web.core import HERE, SECURITY_HEADERS, Web


def add_web(
    app: FastAPI,
    engine: Engine,
    clock: Callable[[], datetime],
    *,
    secret: bytes,
    pass_key: PassKey | None = None,
    secure_cookies: bool = False,
    read_engine: Engine | None = None,
    admission: Admission | None = None,
) -> Web:
    reader = Reader(engine, read_engine)  # None: the dashboard and tracing read on the primary too
    web = Web(
        engine, clock, secret=secret, pass_key=pass_key, secure_cookies=secure_cookies, reader=reader,
        admission=admission,
    )  # fmt: skip
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    error_pages.add_handlers(app, web)
    auth_pages.add_routes(app, web)
    admin_pages.add_routes(app, web)
    declare_pages.add_routes(app, web)
    dashboard_pages.add_routes(app, web)
    status_pages.add_routes(app, web)
    trace_pages.add_routes(app, web)
    rules_pages.add_routes(app, web)
    visits_pages.add_routes(app, web)
    venues_pages.add_routes(app, web)  # /venues, /venues/{code}: the venues in the staff member's area
    webhooks_pages.add_routes(app, web)  # /webhooks: the outgoing webhooks in the staff member's area
    site_pages.add_routes(app, web)
    return web
